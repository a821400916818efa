from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from compliance import models as m


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    """Shown for reading and history; changes go through the services so they reach the ledger."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


for model, columns, filters in [
    (m.ItemDefinition, ["project", "function"], []),
    (m.Hazard, ["project", "code", "title"], ["project"]),
    (m.OperationalSituation, ["project", "code", "description"], ["project"]),
    (
        m.HazardousEvent,
        ["project", "code", "severity", "exposure", "controllability", "asil"],
        ["project", "asil"],
    ),
    (m.SafetyGoal, ["project", "code", "asil", "ftti_ms"], ["project", "asil"]),
    (
        m.Requirement,
        ["project", "code", "kind", "asil", "status", "version"],
        ["project", "kind", "status"],
    ),
    (
        m.TraceLink,
        ["project", "source", "kind", "target_requirement", "target_goal", "suspect"],
        ["project", "kind", "suspect"],
    ),
    (m.TriggeringCondition, ["project", "code", "area"], ["project", "area"]),
    (m.FunctionalInsufficiency, ["project", "code", "kind"], ["project"]),
    (m.HazardousBehaviour, ["project", "code"], ["project"]),
    (m.AcceptanceCriterion, ["project", "code", "unit", "validation_target"], ["project"]),
]:
    admin.site.register(
        model,
        type(
            f"{model.__name__}Admin",
            (ReadOnlyHistoryAdmin,),
            {"list_display": columns, "list_filter": filters},
        ),
    )

for model, columns in [
    (m.Decomposition, ["project", "parent", "first", "second"]),
    (m.Verification, ["project", "requirement", "requirement_version", "result", "stale"]),
    (m.Baseline, ["project", "name", "root", "item_count", "created_at"]),
    (m.Approval, ["project", "measure", "work_product", "reviewer", "achieved_independence"]),
]:
    admin.site.register(
        model, type(f"{model.__name__}Admin", (ReadOnlyHistoryAdmin,), {"list_display": columns})
    )
