"""ISO 26262 and ISO 21448 work products of one project (one item).

Rules live in :mod:`compliance.iso26262` and :mod:`compliance.statistics`; every write goes
through :mod:`compliance.services`, which checks the role, validates with those rules and
appends a ledger entry in the same transaction. ``snapshot()`` on each model is its canonical
content: what baselines hash and what the ledger records.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from compliance import iso26262
from compliance import scope as criterion_scope
from evidence.models import LogEntry
from projects.models import Project

code_validator = RegexValidator(
    r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$",
    "Use an upper-case id with a dash, such as FSR-012, HE-01 or SG-3.",
    code="invalid_code",
)


def _choices(enum) -> list[tuple[str, str]]:
    return [(member.value, member.value) for member in enum]


class ItemDefinition(models.Model):
    """The item: its function, boundary, operational design domain and assumptions (Part 3)."""

    project = models.OneToOneField(Project, on_delete=models.PROTECT, related_name="item")
    function = models.TextField()
    boundaries = models.TextField(blank=True)
    odd = models.TextField("operational design domain", blank=True)
    odd_tags = models.JSONField(
        "ODD tags",
        default=list,
        blank=True,
        help_text="conditions of the ODD taxonomy (compliance.odd), as dimension:value",
    )
    assumptions = models.TextField(blank=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Item of {self.project_id}"

    def snapshot(self) -> dict:
        snapshot = {
            "function": self.function,
            "boundaries": self.boundaries,
            "odd": self.odd,
            "assumptions": self.assumptions,
        }
        if self.odd_tags:  # absent when none, so an item without tags keeps its digest
            snapshot["odd_tags"] = sorted(self.odd_tags)
        return snapshot


class CodedModel(models.Model):
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=40, validators=[code_validator])

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Hazard(CodedModel):
    """A potential source of harm caused by malfunctioning behaviour of the item."""

    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta(CodedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["project", "code"], name="hazard_code")]

    def snapshot(self) -> dict:
        return {"code": self.code, "title": self.title, "description": self.description}


class OperationalSituation(CodedModel):
    description = models.TextField()
    history = HistoricalRecords()

    class Meta(CodedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["project", "code"], name="situation_code")]

    def snapshot(self) -> dict:
        return {"code": self.code, "description": self.description}


class HazardousEvent(CodedModel):
    """A hazard in an operational situation, rated S, E and C; the ASIL is computed, never typed."""

    hazard = models.ForeignKey(Hazard, on_delete=models.PROTECT, related_name="events")
    situation = models.ForeignKey(
        OperationalSituation, on_delete=models.PROTECT, related_name="events"
    )
    severity = models.CharField(max_length=2, choices=_choices(iso26262.Severity))
    exposure = models.CharField(max_length=2, choices=_choices(iso26262.Exposure))
    controllability = models.CharField(max_length=2, choices=_choices(iso26262.Controllability))
    severity_rationale = models.TextField()
    exposure_rationale = models.TextField()
    controllability_rationale = models.TextField()
    asil = models.CharField(max_length=2, editable=False)
    history = HistoricalRecords()

    class Meta(CodedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["project", "code"], name="event_code")]

    def save(self, *args, **kwargs):
        self.asil = iso26262.determine_asil(self.severity, self.exposure, self.controllability)
        super().save(*args, **kwargs)

    def snapshot(self) -> dict:
        return {
            "code": self.code,
            "hazard": self.hazard.code,
            "situation": self.situation.code,
            "severity": self.severity,
            "exposure": self.exposure,
            "controllability": self.controllability,
            "rationale": {
                "S": self.severity_rationale,
                "E": self.exposure_rationale,
                "C": self.controllability_rationale,
            },
            "asil": self.asil,
        }


class SafetyGoal(CodedModel):
    """A top-level safety requirement.

    Its ASIL is derived: the highest ASIL of its hazardous events (QM without any), recomputed
    when the events or their ASILs change. Its fault tolerant time interval (``ftti_ms``) is
    entered with the goal: hazardous events carry no FTTI, so none is derived from them.
    """

    text = models.TextField()
    safe_state = models.TextField(blank=True)
    ftti_ms = models.PositiveIntegerField("FTTI (ms)", null=True, blank=True)
    events = models.ManyToManyField(HazardousEvent, related_name="goals", blank=True)
    asil = models.CharField(max_length=2, editable=False, default="QM")
    history = HistoricalRecords(m2m_fields=[events])

    class Meta(CodedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["project", "code"], name="goal_code")]

    def snapshot(self) -> dict:
        return {
            "code": self.code,
            "text": self.text,
            "safe_state": self.safe_state,
            "ftti_ms": self.ftti_ms,
            "events": sorted(e.code for e in self.events.all()),
            "asil": self.asil,
        }


class RequirementKind(models.TextChoices):
    FSR = "FSR", "Functional safety requirement"
    TSR = "TSR", "Technical safety requirement"
    SW = "SW", "Software safety requirement"
    HW = "HW", "Hardware safety requirement"
    SOTIF = "SOTIF", "SOTIF requirement"


class RequirementStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    OBSOLETE = "obsolete", "Obsolete"


CONTENT_FIELDS = ("title", "text", "asil", "kind")


class Requirement(CodedModel):
    """A safety requirement with its ASIL in the standard's notation (``B(D)``) and a version
    that grows with every content change.

    Its status follows :mod:`compliance.status`: approved only through a review, which records
    the digest of the content it approved (``approved_digest``); a content change sends it back
    to review, and that approval is then stale.
    """

    kind = models.CharField(max_length=8, choices=RequirementKind.choices)
    title = models.CharField(max_length=500, blank=True)
    text = models.TextField(blank=True)
    text_xhtml = models.TextField(blank=True)
    status = models.CharField(
        max_length=12, choices=RequirementStatus.choices, default=RequirementStatus.DRAFT
    )
    version = models.PositiveIntegerField(default=1)
    asil = models.CharField(max_length=8, default="QM")
    section = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)
    is_heading = models.BooleanField(default=False)
    reqif_identifier = models.CharField(max_length=200, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    approved_digest = models.CharField(
        max_length=64, blank=True, help_text="digest of the content the last approval confirmed"
    )
    approved_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="the version the last approval confirmed"
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta(CodedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["project", "code"], name="requirement_code"),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="requirement_version_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "kind", "asil"], name="requirement_filter"),
            models.Index(fields=["project", "reqif_identifier"], name="requirement_reqif"),
        ]

    #: The fields of :meth:`snapshot`, in its order (baselines read them as ``values()`` rows).
    SNAPSHOT_FIELDS = ("code", "kind", "title", "text", "status", "version", "asil", "section")

    def snapshot(self) -> dict:
        return {name: getattr(self, name) for name in self.SNAPSHOT_FIELDS}


class LinkKind(models.TextChoices):
    DERIVES_FROM = "derives-from", "derives from"
    SATISFIES = "satisfies", "satisfies"
    VERIFIES = "verifies", "verifies"
    IMPLEMENTS = "implements", "implements"
    MITIGATES = "mitigates", "mitigates"


class TraceLink(models.Model):
    """A typed link from a requirement to its parent requirement or safety goal.

    ``source_version`` and ``target_version`` are the versions the link was last reviewed
    against; when the target's content changes the link turns suspect until a reviewer clears
    it with a comment.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=LinkKind.choices)
    source = models.ForeignKey(Requirement, on_delete=models.PROTECT, related_name="links_up")
    target_requirement = models.ForeignKey(
        Requirement, null=True, blank=True, on_delete=models.PROTECT, related_name="links_down"
    )
    target_goal = models.ForeignKey(
        SafetyGoal, null=True, blank=True, on_delete=models.PROTECT, related_name="links_down"
    )
    target_version = models.PositiveIntegerField(default=1)
    source_version = models.PositiveIntegerField(default=1)
    suspect = models.BooleanField(default=False)
    suspect_reason = models.CharField(max_length=300, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cleared_comment = models.TextField(blank=True)
    reqif_identifier = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(target_requirement__isnull=False, target_goal__isnull=True)
                    | models.Q(target_requirement__isnull=True, target_goal__isnull=False)
                ),
                name="tracelink_one_target",
            ),
            models.UniqueConstraint(
                fields=["source", "kind", "target_requirement"],
                condition=models.Q(target_requirement__isnull=False),
                name="tracelink_unique_requirement",
            ),
            models.UniqueConstraint(
                fields=["source", "kind", "target_goal"],
                condition=models.Q(target_goal__isnull=False),
                name="tracelink_unique_goal",
            ),
        ]
        indexes = [models.Index(fields=["project", "suspect"], name="tracelink_suspect")]

    def __str__(self) -> str:
        return f"{self.source} {self.kind} {self.target}"

    @property
    def target(self):
        return self.target_requirement or self.target_goal

    def snapshot(self) -> dict:
        return {
            "source": self.source.code,
            "kind": self.kind,
            "target": self.target.code,
            "suspect": self.suspect,
        }


class Decomposition(models.Model):
    """An ASIL decomposition of a parent requirement into two redundant, independent children
    (ISO 26262-9 clause 5), with the independence argument it relies on."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    parent = models.ForeignKey(Requirement, on_delete=models.PROTECT, related_name="decompositions")
    first = models.ForeignKey(Requirement, on_delete=models.PROTECT, related_name="+")
    second = models.ForeignKey(Requirement, on_delete=models.PROTECT, related_name="+")
    elements = models.TextField(help_text="the sufficiently independent elements")
    dependent_failure_analysis = models.TextField(help_text="the DFA the argument relies on")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.parent} -> {self.first} + {self.second}"

    def snapshot(self) -> dict:
        return {
            "parent": self.parent.code,
            "children": sorted([self.first.code, self.second.code]),
            "elements": self.elements,
            "dfa": self.dependent_failure_analysis,
        }


class VerificationResult(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


class Verification(models.Model):
    """Evidence that a requirement version was verified (test, analysis, review, campaign)."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    requirement = models.ForeignKey(
        Requirement, on_delete=models.PROTECT, related_name="verifications"
    )
    requirement_version = models.PositiveIntegerField()
    method = models.CharField(max_length=40)
    result = models.CharField(max_length=16, choices=VerificationResult.choices)
    summary = models.TextField(blank=True)
    entry = models.ForeignKey(LogEntry, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    stale = models.BooleanField(default=False)
    stale_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-recorded_at"]

    def __str__(self) -> str:
        return f"{self.requirement} v{self.requirement_version}: {self.result}"


class Baseline(models.Model):
    """A frozen, content-addressed snapshot of the project's work products."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="baselines")
    name = models.CharField(max_length=100)
    root = models.CharField(max_length=64, help_text="Merkle root over the canonical items")
    content = models.JSONField(help_text="the canonical items, by key")
    item_count = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["project", "created_at"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="baseline_name")]

    def __str__(self) -> str:
        return f"{self.project_id} {self.name}"


class ConfirmationOutcome(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    WITH_FINDINGS = "confirmed_with_findings", "Confirmed with findings"
    NOT_CONFIRMED = "not_confirmed", "Not confirmed"


class Approval(models.Model):
    """A confirmation measure (ISO 26262-2 Table 1) signed by a reviewer at an independence."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    measure = models.CharField(max_length=40, choices=_choices(iso26262.ConfirmationMeasure))
    work_product = models.CharField(max_length=200, help_text="what was reviewed, e.g. HARA")
    baseline = models.ForeignKey(Baseline, null=True, blank=True, on_delete=models.PROTECT)
    cited = models.JSONField(
        default=dict,
        blank=True,
        help_text="digest of each work product the review confirmed, by key (compliance.reviews)",
    )
    asil = models.CharField(max_length=8)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reviewer_role = models.CharField(max_length=20)
    reviewer_team = models.CharField(max_length=100, blank=True)
    reviewer_org_unit = models.CharField(max_length=100, blank=True)
    required_independence = models.CharField(max_length=4)
    achieved_independence = models.CharField(max_length=4)
    outcome = models.CharField(max_length=24, choices=ConfirmationOutcome.choices)
    findings = models.TextField(blank=True)
    entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.measure} of {self.work_product} by {self.reviewer}"


class ScenarioArea(models.IntegerChoices):
    KNOWN_SAFE = 1, "Area 1: known, not hazardous"
    KNOWN_HAZARDOUS = 2, "Area 2: known, hazardous"
    UNKNOWN_HAZARDOUS = 3, "Area 3: unknown, hazardous"
    UNKNOWN_SAFE = 4, "Area 4: unknown, not hazardous"


class TriggeringCondition(CodedModel):
    """A condition of a scenario that can start a hazardous reaction (ISO 21448)."""

    description = models.TextField()
    area = models.PositiveSmallIntegerField(
        choices=ScenarioArea.choices, default=ScenarioArea.KNOWN_HAZARDOUS
    )
    history = HistoricalRecords()

    class Meta(CodedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["project", "code"], name="tc_code")]

    def snapshot(self) -> dict:
        return {"code": self.code, "description": self.description, "area": self.area}


class FunctionalInsufficiency(CodedModel):
    KINDS = [("specification", "Specification"), ("performance", "Performance")]
    description = models.TextField()
    kind = models.CharField(max_length=16, choices=KINDS)
    triggering_conditions = models.ManyToManyField(TriggeringCondition, blank=True)
    history = HistoricalRecords(m2m_fields=[triggering_conditions])

    class Meta(CodedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["project", "code"], name="fi_code")]

    def snapshot(self) -> dict:
        return {
            "code": self.code,
            "description": self.description,
            "kind": self.kind,
            "triggering_conditions": sorted(t.code for t in self.triggering_conditions.all()),
        }


class HazardousBehaviour(CodedModel):
    description = models.TextField()
    insufficiencies = models.ManyToManyField(FunctionalInsufficiency, blank=True)
    goal = models.ForeignKey(SafetyGoal, null=True, blank=True, on_delete=models.PROTECT)
    history = HistoricalRecords(m2m_fields=[insufficiencies])

    class Meta(CodedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["project", "code"], name="hb_code")]

    def snapshot(self) -> dict:
        return {
            "code": self.code,
            "description": self.description,
            "insufficiencies": sorted(i.code for i in self.insufficiencies.all()),
            "goal": self.goal.code if self.goal else None,
        }


class AcceptanceCriterion(CodedModel):
    """A quantitative SOTIF acceptance criterion and the validation target it implies.

    Either a rate of hazardous behaviour per unit of exposure (hours or km), derived from an
    acceptable harm rate as R_HB = A_H / (P_E * P_C * P_S) when those are given, or an allowed
    failure probability per test case. The target is the exposure (or number of cases) that
    demonstrates it at ``confidence`` tolerating ``tolerated_failures`` (REFERENCE.md §6.1, §7).
    """

    UNITS = [("h", "hours"), ("km", "kilometres"), ("cases", "test cases")]
    description = models.TextField()
    goal = models.ForeignKey(SafetyGoal, null=True, blank=True, on_delete=models.PROTECT)
    requirement = models.ForeignKey(
        Requirement, null=True, blank=True, on_delete=models.PROTECT, related_name="criteria"
    )
    unit = models.CharField(max_length=8, choices=UNITS)
    acceptable_harm_rate = models.FloatField(null=True, blank=True)
    p_exposure = models.FloatField(null=True, blank=True)
    p_not_controllable = models.FloatField(null=True, blank=True)
    p_severe = models.FloatField(null=True, blank=True)
    hazardous_behaviour_rate = models.FloatField(null=True, blank=True)
    allowed_failure_probability = models.FloatField(null=True, blank=True)
    confidence = models.FloatField(default=0.95)
    tolerated_failures = models.PositiveIntegerField(default=0)
    kpi = models.CharField(max_length=40, blank=True, help_text="KPI judged per test case")
    comparator = models.CharField(max_length=2, blank=True, help_text="<, <=, >, >=")
    threshold = models.FloatField(null=True, blank=True)
    validation_target = models.FloatField(editable=False, default=0)
    scope = models.JSONField(
        default=dict,
        blank=True,
        help_text="the cases the criterion speaks about (compliance.scope); {} is every case",
    )
    history = HistoricalRecords()

    class Meta(CodedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["project", "code"], name="ac_code")]
        verbose_name_plural = "acceptance criteria"

    @property
    def scope_description(self) -> str:
        return criterion_scope.describe(self.scope)

    def snapshot(self) -> dict:
        return {
            "code": self.code,
            "description": self.description,
            "unit": self.unit,
            "hazardous_behaviour_rate": self.hazardous_behaviour_rate,
            "allowed_failure_probability": self.allowed_failure_probability,
            "confidence": self.confidence,
            "tolerated_failures": self.tolerated_failures,
            "kpi": self.kpi,
            "comparator": self.comparator,
            "threshold": self.threshold,
            "validation_target": self.validation_target,
            # only when given, so that the digest of a criterion without a scope is unchanged
            **({"scope": self.scope} if self.scope else {}),
        }


class CommitLinkKind(models.TextChoices):
    IMPLEMENTS = "implements", "Implements"
    VERIFIES = "verifies", "Verifies"
    REFS = "refs", "Refs"


class CommitLink(models.Model):
    """A Git commit that names a requirement in a trailer (``Implements: FSR-012``)."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    requirement = models.ForeignKey(
        Requirement, on_delete=models.PROTECT, related_name="commit_links"
    )
    kind = models.CharField(max_length=16, choices=CommitLinkKind.choices)
    commit = models.CharField(max_length=64, help_text="commit id (hex)")
    tree = models.CharField(max_length=64, blank=True)
    repository = models.CharField(max_length=500, blank=True)
    author = models.CharField(max_length=300, blank=True)
    authored_at = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    files = models.JSONField(default=list, blank=True, help_text="paths the commit changed")
    entry = models.ForeignKey(LogEntry, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-authored_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "requirement", "commit", "kind"], name="commitlink_unique"
            )
        ]
        indexes = [models.Index(fields=["project", "commit"], name="commitlink_commit")]

    def __str__(self) -> str:
        return f"{self.commit[:12]} {self.kind} {self.requirement}"


class WebhookDelivery(models.Model):
    """A Git hosting webhook delivery seen once; a redelivery is recognised and not reprocessed."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    provider = models.CharField(max_length=16)
    delivery_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)
    commits = models.PositiveIntegerField(default=0)
    links = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "provider", "delivery_id"], name="webhook_delivery_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} delivery {self.delivery_id}"


class ReqIFSource(models.Model):
    """What a ReqIF import keeps so that an export gives back what came in: the header, the
    definitions and tool extensions as written, and every object's, relation's and
    specification's values as read (see :mod:`compliance.interchange.reqif`). One per
    project and document; importing the document again replaces it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reqif_sources")
    document = models.CharField(max_length=200)
    filename = models.CharField(max_length=200)
    tool = models.CharField(max_length=200, blank=True)
    profile = models.CharField(max_length=20, blank=True)
    content = models.JSONField(default=dict)
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "document"], name="reqif_source_document")
        ]

    def __str__(self) -> str:
        return f"{self.project.key}: {self.filename}"


# --- Review sessions, electronic signatures, comments --------------------------------------


class SignatureMeaning(models.TextChoices):
    AUTHORED = "authored", "Authored"
    REVIEWED = "reviewed", "Reviewed"
    APPROVED = "approved", "Approved"


class SignatureDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class ReviewSession(models.Model):
    """A review of a set of work products (or of a baseline's) by named reviewers.

    Opened by a role that may review; each named reviewer approves or rejects item by item
    with an electronic signature (:class:`Signature`). The session and its items are fixed
    when it opens: each :class:`ReviewItem` holds the digest of the content under review, and
    a signature is bound to that digest (:mod:`compliance.review_sessions`).
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    measure = models.CharField(
        max_length=40,
        choices=_choices(iso26262.ConfirmationMeasure),
        help_text="the ISO 26262-2 Table 1 row whose independence signatures must reach",
    )
    baseline = models.ForeignKey(Baseline, null=True, blank=True, on_delete=models.PROTECT)
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+")
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")
    closing_entry = models.OneToOneField(
        LogEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.project_id} review {self.title}"

    @property
    def measure_label(self) -> str:
        return iso26262.ConfirmationMeasure(self.measure).label


class ReviewItem(models.Model):
    """One work product under review, by the key baselines use (``requirement:FSR-1``), with
    the digest of the exact content the reviewers sign and the ASIL the required independence
    is read at."""

    session = models.ForeignKey(ReviewSession, on_delete=models.PROTECT, related_name="items")
    key = models.CharField(max_length=300)
    version = models.PositiveIntegerField(null=True, blank=True)
    digest = models.CharField(max_length=64)
    asil = models.CharField(max_length=8)
    required_independence = models.CharField(max_length=4)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "key"], name="reviewitem_unique_key")
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def code(self) -> str:
        return self.key.split(":", 1)[-1]


class Signature(models.Model):
    """An electronic signature of one review item by one person: the decision, its meaning,
    the content digest signed, the independence reached, and the re-authentication it took.

    Never changed after it is written: a revocation is a :class:`SignatureRevocation` with its
    own ledger entry, and ``verify_ledger`` compares each row with its entry's statement.
    """

    session = models.ForeignKey(ReviewSession, on_delete=models.PROTECT, related_name="signatures")
    item = models.ForeignKey(ReviewItem, on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    meaning = models.CharField(max_length=10, choices=SignatureMeaning.choices)
    decision = models.CharField(max_length=8, choices=SignatureDecision.choices)
    comment = models.TextField(blank=True)
    digest = models.CharField(max_length=64, help_text="digest of the content signed")
    required_independence = models.CharField(max_length=4)
    achieved_independence = models.CharField(max_length=4)
    reauthentication = models.CharField(max_length=16, help_text="password or single sign-on")
    entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item", "signed_at", "id"]

    def __str__(self) -> str:
        return f"{self.signer} {self.decision} {self.item} ({self.meaning})"


class SignatureRevocation(models.Model):
    """The withdrawal of a signature, with its reason: a new ledger entry, never an edit."""

    signature = models.OneToOneField(Signature, on_delete=models.PROTECT, related_name="revocation")
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")
    revoked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"revocation of {self.signature}"


class Comment(models.Model):
    """A comment on any work product, by the key baselines use; ``@username`` mentions a
    member, who is told by e-mail."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=300)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["project", "key"], name="comment_key")]

    def __str__(self) -> str:
        return f"comment on {self.key} by {self.author}"
