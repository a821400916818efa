"""Reads behind the safety case reports: one snapshot of a project as of a ledger checkpoint.

The work products (item, HARA, goals, requirements, links, decompositions, SOTIF) come from a
baseline's frozen content, or from the live model when no baseline is given (the web view).
The evidence (verifications, validation runs, approvals, decisions, artifacts) comes from the
rows whose ledger entry lies inside the checkpoint, so a snapshot never shows evidence that the
package's log does not carry. Every list is in a fixed order: the same baseline and checkpoint
give the same snapshot, and so the same PDF bytes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from compliance import iso26262, review_sessions, reviews
from compliance.models import (
    AcceptanceCriterion,
    Approval,
    Baseline,
    Decomposition,
    Requirement,
    Signature,
    Verification,
)
from evidence import ledger, verify
from evidence import selectors as evidence_selectors
from evidence.models import Artifact, Checkpoint, Decision, EntryKind, LogEntry, SigningKey
from projects.models import Project
from projects.permissions import Action, require
from reports.gaps import snapshot_gaps
from validation.models import Run, RunStatus, Verdict
from validation.selectors import criterion_scenario_breakdown

CHUNK = 5_000


class ReportError(Exception):
    """The report cannot be made (no baseline, empty log, unknown name); the message says why."""


@dataclass(frozen=True)
class VerificationRow:
    requirement: str
    requirement_version: int
    method: str
    result: str
    summary: str
    entry: int


@dataclass(frozen=True)
class VerdictRow:
    criterion: str
    verdict: str
    failures: int
    trials: int
    exposure: float | None
    upper_bound: float
    target: float
    progress: float
    confidence: float
    unit: str
    allowed: float | None  # allowed failure probability (cases) or hazardous-behaviour rate
    scope: str = ""  # the criterion's scope as judged, in words
    cases_in_scope: int = 0
    cases_out_of_scope: int = 0
    #: (scenario, cases, in scope, judged, failing) of each scenario that fed the criterion
    scenarios: tuple[tuple[str, int, int, int, int], ...] = ()
    #: the coverage recorded with the verdict (:func:`validation.coverage.measure`), as
    #: recorded; empty for a run recorded before coverage was
    coverage: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class RunRow:
    campaign: str
    run: int
    executor: str
    cases: int
    entry: int
    verdicts: tuple[VerdictRow, ...]


@dataclass(frozen=True)
class ApprovalRow:
    measure: str
    label: str
    work_product: str
    asil: str
    author: str
    reviewer: str
    reviewer_role: str
    required: str
    achieved: str
    outcome: str
    findings: str
    baseline_root: str | None
    entry: int
    id: int = 0
    cited: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class SignatureRow:
    """An electronic signature of a review item, as of the snapshot: ``state`` is current,
    stale (the content it signed differs from the snapshot's) or revoked (before ``size``)."""

    key: str
    review: str
    signer: str
    meaning: str
    decision: str
    comment: str
    required: str
    achieved: str
    digest: str
    entry: int
    state: str
    reason: str = ""


@dataclass(frozen=True)
class DecisionRow:
    title: str
    context: str
    options: tuple[str, ...]
    decision: str
    consequences: str
    decided_by: str
    entry: int


@dataclass(frozen=True)
class DecompositionRow:
    parent: str
    children: tuple[str, str]
    elements: str
    dfa: str
    entry: int


@dataclass(frozen=True)
class ArtifactRow:
    kind: str
    name: str
    version: int
    uri: str
    sha256: str
    manifest_key: str
    objects: int
    total_bytes: int
    entry: int


@dataclass(frozen=True)
class CriterionLink:
    """Which goal and requirement an acceptance criterion speaks to (not in its snapshot)."""

    code: str
    goal: str | None
    requirement: str | None


@dataclass
class CaseSnapshot:
    """Everything the GSN, the PDF and the package show, as of ``size`` ledger entries."""

    project_key: str
    project_name: str
    project_description: str
    content: dict[str, dict]
    size: int
    baseline_name: str | None = None
    baseline_root: str | None = None
    baseline_entry: int | None = None
    checkpoint_root: bytes | None = None
    checkpoint_time: datetime | None = None
    origin: str = ""
    key_id: str = ""
    verifications: list[VerificationRow] = field(default_factory=list)
    runs: list[RunRow] = field(default_factory=list)
    approvals: list[ApprovalRow] = field(default_factory=list)
    decisions: list[DecisionRow] = field(default_factory=list)
    decompositions: list[DecompositionRow] = field(default_factory=list)
    artifacts: list[ArtifactRow] = field(default_factory=list)
    criteria: list[CriterionLink] = field(default_factory=list)
    decision_entries: list[tuple[int, str]] = field(default_factory=list)  # (index, subject)
    # Supplier claims (evidence.models.SupplierClaim) of the packages imported below ``size``.
    supplier_claims: list = field(default_factory=list)
    prepared_by: str = ""  # who made the snapshot: the exporting user
    gaps: dict = field(default_factory=dict)
    #: The last approval of each requirement as of the baseline (the live one without a
    #: baseline): code -> (approved digest, approved version).
    requirement_approvals: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    #: Each confirmation review against the work products of the snapshot, by ledger entry.
    currency: dict[int, reviews.Currency] = field(default_factory=dict)
    #: The review sessions' signatures recorded before ``size``, in entry order.
    signatures: list[SignatureRow] = field(default_factory=list)
    _keys: tuple = field(default=(-1, None), repr=False, compare=False)

    def items(self, prefix: str) -> list[dict]:
        """The content items under ``prefix`` (``requirement``, ``goal``...), by key."""
        size, keys = self._keys
        if size != len(self.content):  # the content's keys by prefix, once (and when it grew)
            keys = defaultdict(list)
            for key in self.content:
                kind, colon, _ = key.partition(":")
                if colon:
                    keys[kind].append(key)
            self._keys = size, keys = len(self.content), keys
        return [self.content[k] for k in sorted(keys.get(prefix, ()))]

    @property
    def highest_asil(self) -> str:
        asils = [g.get("asil", "QM") for g in self.items("goal")]
        return iso26262.safety_goal_asil(asils) if asils else "QM"


def signing_key_identity(key_id: str) -> tuple[str, str]:
    """The name and full fingerprint of the registered key ``key_id`` (empty if unknown): what
    the PDF cover shows, for a regulator to compare with the fingerprint the operator
    publishes. Shown, never trusted: the regulator's verifier trusts only what it is given."""
    key = SigningKey.objects.filter(key_id=key_id).first()
    if key is None:
        return "", ""
    return key.name, verify.key_fingerprint(key.name, bytes(key.public_key))


def baseline_named(project: Project, name: str | None = None) -> Baseline:
    """The baseline called ``name``, or the latest one; :class:`ReportError` if there is none."""
    baselines = Baseline.objects.filter(project=project).select_related("entry")
    if name:
        baseline = baselines.filter(name=name).first()
        if baseline is None:
            raise ReportError(f"no baseline named {name!r} in {project.key}")
        return baseline
    baseline = baselines.order_by("-entry__index").first()
    if baseline is None:
        raise ReportError(f"{project.key} has no baseline yet: freeze one first")
    return baseline


def latest_checkpoint(project: Project) -> Checkpoint:
    checkpoint = ledger.latest_checkpoint(project)
    if checkpoint is None:
        raise ReportError(f"the ledger of {project.key} is empty: there is nothing to report")
    return checkpoint


def case_snapshot(
    *,
    user,
    project: Project,
    baseline: Baseline | None = None,
    checkpoint: Checkpoint | None = None,
    full: bool = True,
) -> CaseSnapshot:
    """The project as of ``checkpoint`` (default: the latest), its work products from
    ``baseline`` (default: the live model). Needs the view permission. Without ``full`` only
    what the GSN argument reads is gathered: the gap analysis (the evidence pack's table, not
    the GSN's), the decisions, the artifacts and the requirement approvals (a digest of every
    approved requirement) are left empty."""
    require(user, project, Action.VIEW)
    checkpoint = checkpoint or latest_checkpoint(project)
    size = checkpoint.size
    if baseline is not None and baseline.entry.index >= size:
        raise ReportError(f"baseline {baseline.name} is not covered by the checkpoint at {size}")
    # the live work products come with the digests already known of them (on PostgreSQL,
    # those of every requirement and link this process has read before and is told unchanged)
    content, known = (
        (baseline.content, {}) if baseline is not None else reviews.content_and_digests(project)
    )
    snapshot = CaseSnapshot(
        project_key=project.key,
        project_name=project.name,
        project_description=project.description,
        content=content,
        size=size,
        baseline_name=baseline.name if baseline else None,
        baseline_root=baseline.root if baseline else None,
        baseline_entry=baseline.entry.index if baseline else None,
        checkpoint_root=bytes(checkpoint.root),
        checkpoint_time=checkpoint.created_at,
        origin=ledger.origin(project),
        key_id=checkpoint.key_id,
        prepared_by=_person(user),
    )
    inside = {"entry__index__lt": size}
    snapshot.verifications = [
        VerificationRow(code, version, method, result, summary, index)
        for code, version, method, result, summary, index in Verification.objects.filter(
            project=project, **inside
        )
        .order_by("requirement__code", "entry__index", "id")
        .values_list(
            "requirement__code",
            "requirement_version",
            "method",
            "result",
            "summary",
            "entry__index",
        )
    ]
    snapshot.runs = _runs(project, size)
    snapshot.supplier_claims = evidence_selectors.supplier_claims(project=project, size=size)
    snapshot.approvals = [
        ApprovalRow(
            measure=a.measure,
            label=_measure_label(a.measure),
            work_product=a.work_product,
            asil=a.asil,
            author=a.author.username,
            reviewer=a.reviewer.username,
            reviewer_role=a.reviewer_role,
            required=a.required_independence,
            achieved=a.achieved_independence,
            outcome=a.outcome,
            findings=a.findings,
            baseline_root=a.baseline.root if a.baseline_id else None,
            entry=a.entry.index,
            id=a.pk,
            cited=a.cited or {},
        )
        for a in reviews.with_citations(
            Approval.objects.filter(project=project, **inside)
            .select_related("author", "reviewer", "baseline", "entry")
            .defer("baseline__content")  # the root is all a row shows of its baseline
            .order_by("entry__index")
        )
    ]
    frozen = {(d["parent"], tuple(d["children"])) for d in snapshot.items("decomposition")}
    snapshot.decompositions = [
        DecompositionRow(parent, children, elements, dfa, index)
        for parent, first, second, elements, dfa, index in Decomposition.objects.filter(
            project=project, **inside
        )
        .order_by("entry__index")
        .values_list(
            "parent__code",
            "first__code",
            "second__code",
            "elements",
            "dependent_failure_analysis",
            "entry__index",
        )
        for children in [tuple(sorted((first, second)))]
        if (parent, children) in frozen
    ]
    snapshot.criteria = [
        CriterionLink(*row)
        for row in AcceptanceCriterion.objects.filter(project=project)
        .order_by("code")
        .values_list("code", "goal__code", "requirement__code")
    ]
    snapshot.currency = reviews.currencies_in(snapshot.content, snapshot.approvals, known)
    snapshot.signatures = _signatures(project, snapshot.content, size)
    if full:
        _pack_only(snapshot, project, baseline)
    return snapshot


def _pack_only(snapshot: CaseSnapshot, project: Project, baseline: Baseline | None) -> None:
    """What the evidence pack shows besides the argument: decisions, artifacts, the
    requirement approvals and the gap analysis."""
    size = snapshot.size
    inside = {"entry__index__lt": size}
    snapshot.decisions = [
        DecisionRow(
            title=d.title,
            context=d.context,
            options=tuple(str(o) for o in d.options or ()),
            decision=d.decision,
            consequences=d.consequences,
            decided_by=d.decided_by.username,
            entry=d.entry.index,
        )
        for d in Decision.objects.filter(project=project, **inside)
        .select_related("decided_by", "entry")
        .order_by("entry__index")
    ]
    snapshot.artifacts = [
        ArtifactRow(*row)
        for row in Artifact.objects.filter(project=project, **inside)
        .order_by("entry__index")
        .values_list(
            "kind",
            "name",
            "version",
            "uri",
            "sha256",
            "manifest_key",
            "object_count",
            "total_bytes",
            "entry__index",
        )
    ]
    snapshot.decision_entries = list(
        LogEntry.objects.filter(project=project, kind=EntryKind.DECISION, index__lt=size)
        .order_by("index")
        .values_list("index", "subject")
    )
    snapshot.requirement_approvals = _requirement_approvals(project, baseline)
    snapshot.gaps = snapshot_gaps(snapshot)


def _signatures(project: Project, content: dict[str, dict], size: int) -> list[SignatureRow]:
    """The signatures recorded below ``size``, each against the content of the snapshot; a
    revocation counts only when it too was recorded below ``size``."""
    rows = []
    for s in (
        Signature.objects.filter(session__project=project, entry__index__lt=size)
        .select_related("item", "signer", "session", "entry", "revocation__entry")
        .order_by("entry__index")
    ):
        revocation = s.revocation if review_sessions.has_revocation(s) else None
        now = content.get(s.item.key)
        if revocation is not None and revocation.entry.index < size:
            state, reason = "revoked", revocation.reason
        elif now is None or review_sessions.item_digest(s.item.key, now) != s.digest:
            state, reason = "stale", f"{s.item.code} differs from what was signed"
        else:
            state, reason = "current", ""
        rows.append(
            SignatureRow(
                key=s.item.key,
                review=s.session.title,
                signer=s.signer.username,
                meaning=s.meaning,
                decision=s.decision,
                comment=s.comment,
                required=s.required_independence,
                achieved=s.achieved_independence,
                digest=s.digest,
                entry=s.entry.index,
                state=state,
                reason=reason,
            )
        )
    return rows


def _requirement_approvals(project: Project, baseline: Baseline | None) -> dict:
    """code -> (approved digest, approved version) of each requirement's last approval: as
    the requirement history held it when ``baseline`` was frozen, or as it is now."""
    if baseline is None:
        rows = (
            Requirement.objects.filter(project=project)
            .exclude(approved_digest="")
            .values_list("code", "approved_digest", "approved_version")
        )
        return {code: (digest, version) for code, digest, version in rows}
    rows = (
        Requirement.history.filter(project=project, history_date__lte=baseline.created_at)
        .exclude(approved_digest="")
        .order_by("history_id")
        .values_list("code", "approved_digest", "approved_version")
    )
    return {code: (digest, version) for code, digest, version in rows}


def _person(user) -> str:
    name = (user.get_full_name() or "").strip()
    return f"{name} ({user.username})" if name else user.username


def _measure_label(measure: str) -> str:
    try:
        return iso26262.ConfirmationMeasure(measure).label
    except ValueError:
        return measure


def _runs(project: Project, size: int) -> list[RunRow]:
    runs = list(
        Run.objects.filter(
            campaign__project=project, status=RunStatus.SUCCEEDED, entry__index__lt=size
        )
        .order_by("entry__index", "id")
        .values_list("id", "campaign__name", "executor", "cases_total", "entry__index")
    )
    verdicts: dict[int, list[VerdictRow]] = {run[0]: [] for run in runs}
    for v in (
        Verdict.objects.filter(run_id__in=list(verdicts))
        .select_related("criterion")
        .order_by("run_id", "criterion__code")
    ):
        ac = v.criterion
        verdicts[v.run_id].append(
            VerdictRow(
                criterion=ac.code,
                verdict=v.verdict,
                failures=v.failures,
                trials=v.trials,
                exposure=v.exposure,
                upper_bound=v.upper_bound,
                target=v.target,
                progress=v.progress,
                confidence=ac.confidence,
                unit=ac.unit,
                allowed=(
                    ac.allowed_failure_probability
                    if ac.unit == "cases"
                    else ac.hazardous_behaviour_rate
                ),
                scope=v.scope_description,
                cases_in_scope=v.cases_in_scope,
                cases_out_of_scope=v.cases_out_of_scope,
                scenarios=tuple(
                    (row["scenario"], row["cases"], row["in_scope"], row["judged"], row["failing"])
                    for row in criterion_scenario_breakdown(verdict=v)
                ),
                coverage=v.coverage or {},
            )
        )
    return [
        RunRow(
            campaign=campaign,
            run=run_id,
            executor=executor,
            cases=cases,
            entry=index,
            verdicts=tuple(verdicts[run_id]),
        )
        for run_id, campaign, executor, cases, index in runs
    ]


def register_rows(project: Project, size: int) -> Iterator[tuple[int, str, str, str]]:
    """(index, kind, subject, digest) of every entry below ``size``, in index order, streamed."""
    yield from (
        LogEntry.objects.filter(project=project, index__lt=size)
        .order_by("index")
        .values_list("index", "kind", "subject", "digest")
        .iterator(chunk_size=CHUNK)
    )


def leaf_hashes(project: Project, indexes) -> dict[int, tuple[str, str, bytes]]:
    """(kind, subject, leaf hash) of the given entries, by index."""
    wanted = sorted(set(indexes))
    found: dict[int, tuple[str, str, bytes]] = {}
    for start in range(0, len(wanted), CHUNK):
        for index, kind, subject, leaf in LogEntry.objects.filter(
            project=project, index__in=wanted[start : start + CHUNK]
        ).values_list("index", "kind", "subject", "leaf_hash"):
            found[index] = (kind, subject, bytes(leaf))
    return found
