from django.contrib import admin

from evidence.models import Artifact, Checkpoint, Decision, LogEntry, SigningKey


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is append-only: the admin shows it and changes nothing."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    list_display = ["project", "index", "kind", "subject", "recorded_at", "recorded_by"]
    list_filter = ["project", "kind"]
    search_fields = ["subject", "digest"]


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ["project", "size", "key_id", "created_at"]


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["name", "key_id", "created_at"]


@admin.register(Artifact)
class ArtifactAdmin(ReadOnlyAdmin):
    list_display = ["project", "kind", "name", "version", "sha256", "created_at"]
    list_filter = ["project", "kind"]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["project", "title", "decided_by", "created_at"]
