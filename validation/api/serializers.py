from rest_framework import serializers

from projects.api.strict import JSONInput
from validation.execution import registry
from validation.models import (
    Campaign,
    CaseResult,
    Comparison,
    FailureSearch,
    Run,
    Scenario,
    ScenarioCatalog,
    Verdict,
)


class ScenarioOut(serializers.ModelSerializer):
    requirements = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    spaces = serializers.SerializerMethodField()

    class Meta:
        model = Scenario
        fields = [
            "name",
            "file_name",
            "sha256",
            "parameters",
            "odd_tags",
            "sotif_area",
            "requirements",
            "spaces",
            "catalog_references",
        ]

    def get_spaces(self, scenario) -> list[dict]:
        return [
            {"name": s.name, "kind": s.kind, "cases": len(s.cases), "discarded": s.discarded}
            for s in scenario.spaces.all()
        ]


class ScenarioCatalogOut(serializers.ModelSerializer):
    """A stored OpenSCENARIO catalog: its name, file, entry kinds and entries."""

    class Meta:
        model = ScenarioCatalog
        fields = ["name", "file_name", "sha256", "kinds", "entries", "created_at"]


class CampaignOut(serializers.ModelSerializer):
    criteria = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    spaces = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "name",
            "description",
            "executor",
            "sampling",
            "seed",
            "cap",
            "shard_size",
            "sut_commit",
            "criteria",
            "spaces",
            "created_at",
            "coverage_plan",
        ]

    def get_spaces(self, campaign) -> list[str]:
        return [f"{s.scenario.name}/{s.name}" for s in campaign.spaces.all()]


class RunStartIn(JSONInput, serializers.Serializer):
    executor = serializers.ChoiceField(choices=registry.choices(), required=False)
    model = serializers.CharField(
        required=False,
        max_length=200,
        help_text="run on this registered model (its latest version) instead of the campaign's",
    )
    commit = serializers.CharField(
        required=False,
        max_length=64,
        help_text="the system under test's commit for this run (7 to 64 hex digits)",
    )


class VerdictOut(serializers.ModelSerializer):
    """A verdict with the unit and the confidence its numbers are in, from its criterion."""

    criterion = serializers.CharField(source="criterion.code")
    unit = serializers.CharField(
        source="criterion.unit",
        help_text="h, km or cases: the unit of exposure and target, and the rates' per-unit",
    )
    confidence = serializers.FloatField(
        source="criterion.confidence",
        help_text="confidence of the upper bound, as a fraction (0.95 for 95 %)",
    )

    class Meta:
        model = Verdict
        fields = [
            "criterion",
            "verdict",
            "failures",
            "trials",
            "exposure",
            "upper_bound",
            "target",
            "progress",
            "scope",
            "cases_in_scope",
            "cases_out_of_scope",
            "judged_sha256",
            "scenarios",
            "unit",
            "confidence",
            "coverage",
        ]
        extra_kwargs = {
            "coverage": {
                "help_text": "coverage of the judged cases as recorded with the verdict: per "
                "parameter and ODD dimension its bins and hits, holes and goal; bins_total, "
                "bins_hit, holes, met; its SHA-256 is stated in the run's ledger entry"
            },
            "exposure": {"help_text": "hours or km judged (in unit); null for cases"},
            "upper_bound": {
                "help_text": "upper confidence bound: events per unit, or failure probability "
                "per case"
            },
            "target": {"help_text": "cases, hours or km needed to demonstrate the criterion"},
        }


class RunOut(serializers.ModelSerializer):
    campaign = serializers.CharField(source="campaign.name")
    cases_done = serializers.IntegerField(read_only=True, default=0)
    verdicts = VerdictOut(many=True, read_only=True)
    entry = serializers.IntegerField(source="entry.index", default=None, allow_null=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "campaign",
            "status",
            "executor",
            "cases_total",
            "cases_done",
            "shards_total",
            "error",
            "inputs",
            "entry",
            "verdicts",
            "created_at",
            "finished_at",
        ]


class CaseResultOut(serializers.ModelSerializer):
    class Meta:
        model = CaseResult
        fields = ["case_id", "scenario", "shard", "params", "kpis"]


class ComparisonIn(JSONInput, serializers.Serializer):
    base = serializers.IntegerField(min_value=1, help_text="the id of the base run (the reference)")
    limit = serializers.IntegerField(
        min_value=0,
        max_value=1000,
        required=False,
        default=100,
        help_text="how many cases the report lists by name (flipped cases, largest changes)",
    )


class ComparisonOut(serializers.ModelSerializer):
    """A recorded comparison of a head run against a base run."""

    base = serializers.IntegerField(source="base_id", help_text="the base run's id")
    head = serializers.IntegerField(source="head_id", help_text="the head run's id")
    entry = serializers.IntegerField(source="entry.index", help_text="its ledger entry")
    created_by = serializers.CharField(source="created_by.username")
    report = serializers.JSONField(
        help_text="both runs (campaign, inputs, entry); matched, only_base and only_head case "
        "counts; per criterion the failures and trials of each run, the one-sided exact test's "
        "p-value against alpha = 1 - confidence, the flip matrix overall and per scenario, the "
        "cases flipped to fail and to pass; KPI deltas per scenario and per listed case; "
        "regressed and the reasons"
    )

    class Meta:
        model = Comparison
        fields = [
            "id",
            "base",
            "head",
            "regressed",
            "sha256",
            "entry",
            "created_by",
            "created_at",
            "report",
        ]


class CoverageQuery(serializers.Serializer):
    criterion = serializers.CharField(
        required=False, max_length=50, help_text="count only the cases this criterion judges"
    )
    bins = serializers.IntegerField(
        required=False, default=5, min_value=1, max_value=100, help_text="bins per numeric axis"
    )
    goal = serializers.IntegerField(
        required=False, default=1, min_value=1, help_text="the cases each bin should have"
    )
    x = serializers.CharField(required=False, max_length=100, help_text="grid: first parameter")
    y = serializers.CharField(required=False, max_length=100, help_text="grid: second parameter")


class CoverageBinOut(serializers.Serializer):
    bin = serializers.CharField()
    hits = serializers.IntegerField()


class CoverageParameterOut(serializers.Serializer):
    parameter = serializers.CharField()
    kind = serializers.ChoiceField(choices=["range", "values"])
    bins = CoverageBinOut(many=True)
    outside = serializers.IntegerField(help_text="cases without a value in the axis' range")
    holes = serializers.ListField(child=serializers.CharField(), help_text="bins with no case")
    below_goal = serializers.ListField(child=serializers.CharField())
    goal = serializers.IntegerField()
    met = serializers.BooleanField(help_text="every bin has at least goal cases")


class CoverageAxisOut(serializers.Serializer):
    parameter = serializers.CharField()
    bins = serializers.ListField(child=serializers.CharField())


class CoverageGridOut(serializers.Serializer):
    x = CoverageAxisOut()
    y = CoverageAxisOut()
    counts = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="counts[j][i]: cases in y bin j and x bin i",
    )
    outside = serializers.IntegerField()
    holes = serializers.IntegerField()
    below_goal = serializers.IntegerField()
    cells = serializers.IntegerField()
    goal = serializers.IntegerField()


class CoverageOut(serializers.Serializer):
    run = serializers.IntegerField()
    criterion = serializers.CharField(allow_null=True)
    scope = serializers.JSONField(help_text="the criterion's scope (empty: every case)")
    cases = serializers.IntegerField(help_text="the cases counted")
    bins = serializers.IntegerField()
    goal = serializers.IntegerField()
    parameters = CoverageParameterOut(many=True)
    grid = CoverageGridOut(allow_null=True, help_text="the x-y grid when both are given")


class FailureSearchIn(JSONInput, serializers.Serializer):
    criterion = serializers.CharField(help_text="the acceptance criterion's code")
    scenario = serializers.CharField(help_text="the logical scenario's name")
    campaign = serializers.CharField(
        required=False, help_text="the campaign whose space is searched and promoted into"
    )
    ranges = serializers.JSONField(
        required=False,
        help_text='name -> [low, high], [low, high, step] or {"values": [...]}; default: the '
        "scenario's sampled space, narrowed to the criterion's scope",
    )
    budget = serializers.IntegerField(min_value=1, max_value=10_000, default=200)
    seed = serializers.IntegerField(min_value=0, default=0)
    sampler = serializers.ChoiceField(choices=["tpe", "random"], default="tpe")


class FailureSearchOut(serializers.ModelSerializer):
    """A recorded failure search: labelled as a search, never evidence toward a verdict."""

    criterion = serializers.CharField(source="criterion.code")
    scenario = serializers.CharField(source="scenario.name")
    campaign = serializers.CharField(source="campaign.name", allow_null=True, default=None)
    entry = serializers.IntegerField(source="entry.index", help_text="its ledger entry")
    created_by = serializers.CharField(source="created_by.username")
    summary = serializers.JSONField(
        help_text="evaluated and failing counts, the first failure's evaluation number, the "
        "worst cases with their KPIs and margins, and the failure boundary: the cases closest "
        "to a zero margin and per numeric parameter the span of failing and passing cases"
    )

    class Meta:
        model = FailureSearch
        fields = [
            "id",
            "kind",
            "criterion",
            "scenario",
            "campaign",
            "sampler",
            "seed",
            "budget",
            "ranges",
            "fixed",
            "failures",
            "promoted",
            "sha256",
            "entry",
            "created_by",
            "created_at",
            "summary",
        ]
