from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compliance import iso26262, selectors
from compliance.models import (
    AcceptanceCriterion,
    Approval,
    Baseline,
    Decomposition,
    Hazard,
    HazardousEvent,
    ItemDefinition,
    LinkKind,
    OperationalSituation,
    Requirement,
    RequirementKind,
    RequirementStatus,
    SafetyGoal,
    TraceLink,
    TriggeringCondition,
    Verification,
    code_validator,
)
from projects import selectors as project_selectors
from projects.api.schema import ChoiceText
from projects.api.strict import JSONInput

CODE_MAX = Requirement._meta.get_field("code").max_length
CODE_SCHEMA = {"type": "string", "pattern": code_validator.regex.pattern, "maxLength": CODE_MAX}


class CodeText(serializers.CharField):
    """A work product's code: upper case with a dash, such as FSR-012 (the model's rule)."""

    def __init__(self, **kwargs):
        super().__init__(max_length=CODE_MAX, validators=[code_validator], **kwargs)


def asil_text(**kwargs) -> ChoiceText:
    """An ASIL in notation (QM, A-D or X(Y) such as B(D)), checked by the service."""
    return ChoiceText(choices=iso26262.ASIL_NOTATIONS, max_length=8, **kwargs)


def rating(enum) -> ChoiceText:
    """An S, E or C class, checked by the service so the refusal names the allowed classes."""
    return ChoiceText(choices=[m.value for m in enum], max_length=10)


@extend_schema_field(CODE_SCHEMA)
class CodeField(serializers.SlugRelatedField):
    """A related work product named by its code, looked up in the request's project only."""

    def __init__(self, model, **kwargs):
        self.model = model
        super().__init__(slug_field="code", **kwargs)

    def get_queryset(self):
        return self.model.objects.filter(project=self.context["project"])


@extend_schema_field(OpenApiTypes.STR)
class UserField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="username", **kwargs)

    def get_queryset(self):
        return project_selectors.member_users(project=self.context["project"])


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 100})
class BaselineField(serializers.SlugRelatedField):
    """A baseline named by its name, in the request's project only."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="name", **kwargs)

    def get_queryset(self):
        return selectors.baseline_list(project=self.context["project"])


class ItemSerializer(JSONInput, serializers.ModelSerializer):
    class Meta:
        model = ItemDefinition
        fields = ["function", "boundaries", "odd", "assumptions"]


class HazardSerializer(JSONInput, serializers.ModelSerializer):
    class Meta:
        model = Hazard
        fields = ["code", "title", "description"]
        validators = []


class SituationSerializer(JSONInput, serializers.ModelSerializer):
    class Meta:
        model = OperationalSituation
        fields = ["code", "description"]
        validators = []


class HazardousEventIn(JSONInput, serializers.Serializer):
    code = CodeText()
    hazard = CodeField(Hazard)
    situation = CodeField(OperationalSituation)
    severity = rating(iso26262.Severity)
    exposure = rating(iso26262.Exposure)
    controllability = rating(iso26262.Controllability)
    severity_rationale = serializers.CharField(help_text="why this class; never blank")
    exposure_rationale = serializers.CharField(help_text="why this class; never blank")
    controllability_rationale = serializers.CharField(help_text="why this class; never blank")


class HazardousEventOut(serializers.ModelSerializer):
    hazard = serializers.CharField(source="hazard.code")
    situation = serializers.CharField(source="situation.code")

    class Meta:
        model = HazardousEvent
        fields = [
            "code",
            "hazard",
            "situation",
            "severity",
            "exposure",
            "controllability",
            "severity_rationale",
            "exposure_rationale",
            "controllability_rationale",
            "asil",
        ]


class SafetyGoalIn(JSONInput, serializers.Serializer):
    code = CodeText()
    text = serializers.CharField()
    safe_state = serializers.CharField(required=False, allow_blank=True, default="")
    ftti_ms = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    events = CodeField(HazardousEvent, many=True, required=False)


class SafetyGoalOut(serializers.ModelSerializer):
    events = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = SafetyGoal
        fields = ["code", "text", "safe_state", "ftti_ms", "events", "asil"]


class RequirementIn(JSONInput, serializers.Serializer):
    code = CodeText()
    kind = serializers.ChoiceField(choices=RequirementKind.choices)
    title = serializers.CharField(required=False, allow_blank=True, default="")
    text = serializers.CharField(required=False, allow_blank=True, default="")
    asil = asil_text(default="QM")
    status = serializers.ChoiceField(choices=RequirementStatus.choices, required=False)
    section = serializers.CharField(required=False, allow_blank=True, default="")


class RequirementUpdateIn(JSONInput, serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True)
    text = serializers.CharField(required=False, allow_blank=True)
    asil = asil_text(required=False)
    status = serializers.ChoiceField(choices=RequirementStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=RequirementKind.choices, required=False)
    section = serializers.CharField(required=False, allow_blank=True)


class RequirementOut(serializers.ModelSerializer):
    class Meta:
        model = Requirement
        fields = [
            "code",
            "kind",
            "title",
            "text",
            "status",
            "version",
            "asil",
            "section",
            "updated_at",
        ]


class LinkIn(JSONInput, serializers.Serializer):
    source = CodeField(Requirement)
    kind = serializers.ChoiceField(choices=LinkKind.choices)
    target_requirement = CodeField(Requirement, required=False, allow_null=True, default=None)
    target_goal = CodeField(SafetyGoal, required=False, allow_null=True, default=None)


class LinkOut(serializers.ModelSerializer):
    source = serializers.CharField(source="source.code")
    target = serializers.CharField(source="target.code")

    class Meta:
        model = TraceLink
        fields = ["id", "source", "kind", "target", "suspect", "suspect_reason", "cleared_comment"]


class ClearIn(JSONInput, serializers.Serializer):
    comment = serializers.CharField()


class LinkRemoveIn(JSONInput, serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="why the link goes (in the ledger)")


class DecompositionIn(JSONInput, serializers.Serializer):
    parent = CodeField(Requirement)
    first = CodeField(Requirement)
    second = CodeField(Requirement)
    elements = serializers.CharField()
    dependent_failure_analysis = serializers.CharField()


class DecompositionOut(serializers.ModelSerializer):
    parent = serializers.CharField(source="parent.code")
    first = serializers.CharField(source="first.code")
    second = serializers.CharField(source="second.code")
    entry = serializers.IntegerField(source="entry.index")

    class Meta:
        model = Decomposition
        fields = [
            "id",
            "parent",
            "first",
            "second",
            "elements",
            "dependent_failure_analysis",
            "entry",
        ]


class VerificationIn(JSONInput, serializers.Serializer):
    requirement = CodeField(Requirement)
    method = serializers.CharField(max_length=40)
    result = serializers.ChoiceField(choices=["pass", "fail", "inconclusive"])
    summary = serializers.CharField(required=False, allow_blank=True, default="")


class VerificationOut(serializers.ModelSerializer):
    requirement = serializers.CharField(source="requirement.code")
    entry = serializers.IntegerField(source="entry.index")

    class Meta:
        model = Verification
        fields = [
            "id",
            "requirement",
            "requirement_version",
            "method",
            "result",
            "summary",
            "stale",
            "stale_reason",
            "entry",
            "recorded_at",
        ]


class BaselineIn(JSONInput, serializers.Serializer):
    name = serializers.CharField(max_length=100)


class BaselineOut(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username")
    entry = serializers.IntegerField(source="entry.index")

    class Meta:
        model = Baseline
        fields = ["name", "root", "item_count", "created_by", "created_at", "entry"]


class ApprovalIn(JSONInput, serializers.Serializer):
    measure = serializers.ChoiceField(choices=[m.value for m in iso26262.ConfirmationMeasure])
    work_product = serializers.CharField(max_length=200)
    author = UserField()
    asil = asil_text()
    outcome = serializers.ChoiceField(
        choices=["confirmed", "confirmed_with_findings", "not_confirmed"]
    )
    findings = serializers.CharField(required=False, allow_blank=True, default="")
    baseline = BaselineField(required=False, allow_null=True, default=None)


class ApprovalOut(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username")
    reviewer = serializers.CharField(source="reviewer.username")
    entry = serializers.IntegerField(source="entry.index")

    class Meta:
        model = Approval
        fields = [
            "id",
            "measure",
            "work_product",
            "asil",
            "author",
            "reviewer",
            "reviewer_role",
            "reviewer_org_unit",
            "required_independence",
            "achieved_independence",
            "outcome",
            "findings",
            "entry",
            "created_at",
        ]


class TriggeringConditionSerializer(JSONInput, serializers.ModelSerializer):
    class Meta:
        model = TriggeringCondition
        fields = ["code", "description", "area"]
        validators = []


class AcceptanceCriterionIn(JSONInput, serializers.Serializer):
    code = CodeText()
    description = serializers.CharField()
    goal = CodeField(SafetyGoal, required=False, allow_null=True, default=None)
    requirement = CodeField(Requirement, required=False, allow_null=True, default=None)
    unit = serializers.ChoiceField(choices=["h", "km", "cases"])
    acceptable_harm_rate = serializers.FloatField(required=False, allow_null=True, default=None)
    p_exposure = serializers.FloatField(required=False, allow_null=True, default=None)
    p_not_controllable = serializers.FloatField(required=False, allow_null=True, default=None)
    p_severe = serializers.FloatField(required=False, allow_null=True, default=None)
    hazardous_behaviour_rate = serializers.FloatField(required=False, allow_null=True, default=None)
    allowed_failure_probability = serializers.FloatField(
        required=False, allow_null=True, default=None
    )
    confidence = serializers.FloatField(default=0.95)
    tolerated_failures = serializers.IntegerField(min_value=0, default=0)
    kpi = serializers.CharField(required=False, allow_blank=True, default="")
    comparator = serializers.CharField(required=False, allow_blank=True, default="")
    threshold = serializers.FloatField(required=False, allow_null=True, default=None)
    scope = serializers.JSONField(
        required=False,
        default=dict,
        help_text="scenarios, parameter ranges and ODD conditions the criterion speaks about "
        '(e.g. {"scenarios": ["CCRs"], "parameters": {"ego_speed": [20, 50]}}); {} is every case',
    )


class AcceptanceCriterionOut(serializers.ModelSerializer):
    goal = serializers.CharField(source="goal.code", default=None, allow_null=True)
    requirement = serializers.CharField(source="requirement.code", default=None, allow_null=True)

    class Meta:
        model = AcceptanceCriterion
        fields = [
            "code",
            "description",
            "goal",
            "requirement",
            "unit",
            "acceptable_harm_rate",
            "p_exposure",
            "p_not_controllable",
            "p_severe",
            "hazardous_behaviour_rate",
            "allowed_failure_probability",
            "confidence",
            "tolerated_failures",
            "kpi",
            "comparator",
            "threshold",
            "validation_target",
            "scope",
        ]


class MatrixRowOut(serializers.ModelSerializer):
    parents = serializers.SerializerMethodField()
    children = serializers.SerializerMethodField()
    verification = serializers.SerializerMethodField()
    suspect = serializers.SerializerMethodField()

    class Meta:
        model = Requirement
        fields = [
            "code",
            "kind",
            "title",
            "asil",
            "status",
            "version",
            "parents",
            "children",
            "verification",
            "suspect",
        ]

    def get_parents(self, req) -> list[str]:
        return [f"{link.kind}:{link.target.code}" for link in req.links_up.all()]

    def get_children(self, req) -> list[str]:
        return [f"{link.kind}:{link.source.code}" for link in req.links_down.all()]

    def get_verification(self, req) -> str:
        """The latest current result; else ``stale`` when every one recorded went stale, else
        ``none`` (from :func:`compliance.selectors.matrix_verifications`, set by the view)."""
        return req.latest_result or ("stale" if req.verified_ever else "none")

    def get_suspect(self, req) -> bool:
        return any(link.suspect for link in req.links_up.all()) or any(
            link.suspect for link in req.links_down.all()
        )


# --- Query parameters ---------------------------------------------------------------------------


class RequirementQuery(serializers.Serializer):
    """Filters of the requirement list and of the traceability matrix; empty filters nothing."""

    kind = serializers.ChoiceField(
        choices=RequirementKind.choices, required=False, allow_blank=True
    )
    status = serializers.ChoiceField(
        choices=RequirementStatus.choices, required=False, allow_blank=True
    )
    asil = serializers.ChoiceField(
        choices=iso26262.ASIL_NOTATIONS,
        required=False,
        allow_blank=True,
        help_text="a level (B: B and every B(x)) or one exact notation (B(D))",
    )
    coverage = serializers.ChoiceField(
        choices=["verified", "unverified", "orphan"],
        required=False,
        allow_blank=True,
        help_text="verified: a current passing verification; orphan: no link up",
    )


class TraceabilityQuery(RequirementQuery):
    export = serializers.ChoiceField(
        choices=["csv"], required=False, allow_blank=True, help_text="csv: the matrix as CSV"
    )


class LinkQuery(serializers.Serializer):
    suspect = serializers.BooleanField(required=False, help_text="only the suspect links")


def _names(description: str) -> dict:
    return {"type": "array", "items": {"type": "string"}, "description": description}


BASELINE_DIFF_SCHEMA = {
    "type": "object",
    "required": ["from", "to", "added", "removed", "changed"],
    "properties": {
        "from": {"type": "string", "description": "the older baseline"},
        "to": {"type": "string", "description": "the newer baseline"},
        "added": _names("items only in the newer baseline"),
        "removed": _names("items only in the older baseline"),
        "changed": {
            "type": "object",
            "description": "per item, per field: [value in the older, value in the newer]",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2},
            },
        },
    },
}


def _listed(**extra) -> dict:
    """The first 50 items of a gap, each with its id and code for a link to its page."""
    item = {
        "type": "object",
        "required": ["id", "code"],
        "properties": {"id": {"type": "integer"}, "code": {"type": "string"}, **extra},
    }
    return {"type": "array", "items": item, "description": "the first 50"}


def _items(description: str, **extra) -> dict:
    """A gap: how many items, and the first of them."""
    return {
        "type": "object",
        "description": description,
        "required": ["count", "items"],
        "properties": {"count": {"type": "integer"}, "items": _listed(**extra)},
    }


_BY_ASIL = {"type": "object", "additionalProperties": {"type": "integer"}}
_REQUIREMENT_GAP = {
    "type": "object",
    "required": ["count", "by_asil", "codes", "items"],
    "properties": {
        "count": {"type": "integer"},
        "by_asil": _BY_ASIL,
        "codes": _names("the first 50 codes"),
        "items": _listed(),
    },
}

GAP_ANALYSIS_SCHEMA = {
    "type": "object",
    "required": [
        "requirements",
        "without_parent",
        "without_verification",
        "stale_verifications",
        "suspect_links",
        "undecomposed_asil_drops",
        "events_without_goal",
        "goals_without_requirements",
        "unlinked_decomposition_children",
        "stale_reviews",
        "criteria_without_cases",
        "approved",
        "approvals",
        "release_ready",
    ],
    "properties": {
        "requirements": {"type": "integer", "description": "counted: no headings, none obsolete"},
        "without_parent": {**_REQUIREMENT_GAP, "description": "requirements with no link up"},
        "without_verification": {
            **_REQUIREMENT_GAP,
            "description": "requirements without a current passing verification",
        },
        "stale_verifications": {"type": "integer"},
        "suspect_links": {"type": "integer"},
        "undecomposed_asil_drops": _names("links to a lower ASIL without a decomposition"),
        "events_without_goal": _items(
            "hazardous events rated ASIL A to D that no safety goal covers",
            asil={"type": "string"},
        ),
        "goals_without_requirements": _items(
            "safety goals no requirement derives from or satisfies", asil={"type": "string"}
        ),
        "unlinked_decomposition_children": _items(
            "children of an ASIL decomposition that do not derive from the parent",
            parent={"type": "string"},
            parent_id={"type": "integer"},
        ),
        "stale_reviews": {
            "type": "object",
            "description": "reviews citing work products that changed, went or were added since",
            "required": ["count", "approvals", "requirements"],
            "properties": {
                "count": {"type": "integer"},
                "approvals": {
                    "type": "array",
                    "description": "confirmation reviews, with what changed since",
                    "items": {
                        "type": "object",
                        "required": ["id", "measure", "work_product", "outcome", "reason"],
                        "properties": {
                            "id": {"type": "integer"},
                            "measure": {"type": "string"},
                            "work_product": {"type": "string"},
                            "outcome": {"type": "string"},
                            "reason": {"type": "string"},
                        },
                    },
                },
                "requirements": {
                    "type": "array",
                    "description": "requirements whose last approval is of an older version",
                    "items": {
                        "type": "object",
                        "required": ["id", "code", "status", "version", "approved_version"],
                        "properties": {
                            "id": {"type": "integer"},
                            "code": {"type": "string"},
                            "status": {"type": "string"},
                            "version": {"type": "integer"},
                            "approved_version": {"type": "integer", "nullable": True},
                        },
                    },
                },
            },
        },
        "criteria_without_cases": _items(
            "acceptance criteria that no finished run of any campaign judged on a case inside "
            "their scope (the validation app provides this gap)"
        ),
        "approved": {
            "type": "object",
            "description": "requirements approved in their current content (no stale approval)",
            "required": ["count", "by_asil"],
            "properties": {"count": {"type": "integer"}, "by_asil": _BY_ASIL},
        },
        "approvals": {
            "type": "object",
            "description": "ISO 26262-2 Table 1 measures at the highest goal ASIL",
            "required": ["asil", "missing", "below_required", "stale"],
            "properties": {
                "asil": {"type": "string"},
                "missing": {"type": "array", "items": {"type": "object"}},
                "below_required": {"type": "array", "items": {"type": "object"}},
                "stale": {
                    "type": "array",
                    "description": "measures whose every confirmation is stale",
                    "items": {"type": "object"},
                },
            },
        },
        "release_ready": {"type": "boolean"},
    },
}
