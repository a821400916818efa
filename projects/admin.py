from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from projects.models import Membership, Project, ProviderIdentity


class ReadOnlyMembership:
    """Memberships are shown, never edited, here: a change must reach the project's ledger
    (``evidence.membership``), which the admin's plain row edits would bypass."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(ReadOnlyMembership, admin.TabularInline):
    model = Membership
    extra = 0
    fields = readonly_fields = ["user", "role", "team", "org_unit", "created_at"]


@admin.register(Project)
class ProjectAdmin(SimpleHistoryAdmin):
    list_display = ["key", "name", "created_at"]
    search_fields = ["key", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyMembership, SimpleHistoryAdmin):
    list_display = ["project", "user", "role", "team", "org_unit"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__key"]


@admin.register(ProviderIdentity)
class ProviderIdentityAdmin(admin.ModelAdmin):
    """Shown, never edited: a binding is made at the first single sign-on login. Deleting one
    (a person moved to another provider) lets the next login under that user name bind anew."""

    list_display = ["user", "issuer", "subject", "created_at"]
    search_fields = ["user__username", "subject"]
    fields = readonly_fields = ["user", "issuer", "subject", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
