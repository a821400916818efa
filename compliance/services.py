"""Every write to the safety case: role-checked, validated against the ISO 26262 / ISO 21448
rules, and recorded in the project's evidence ledger in the same transaction.

A refused write raises Django's ``ValidationError`` naming the field and the rule (the API turns
it into HTTP 400, the commands into a one-line error) and writes nothing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from compliance import iso26262, links, odd, reviews, statistics
from compliance import scope as criterion_scope
from compliance import status as lifecycle
from compliance.models import (
    CONTENT_FIELDS,
    AcceptanceCriterion,
    Approval,
    Baseline,
    Decomposition,
    FunctionalInsufficiency,
    Hazard,
    HazardousBehaviour,
    HazardousEvent,
    ItemDefinition,
    OperationalSituation,
    Requirement,
    RequirementStatus,
    SafetyGoal,
    TraceLink,
    TriggeringCondition,
    Verification,
)
from compliance.reviews import digest_of
from evidence import ledger
from evidence.ledger import Record, Subject
from evidence.membership import lock_log, recorded_placements
from evidence.models import EntryKind, LogEntry
from evidence.verify import canonical_json
from projects.models import Project
from projects.permissions import ROLE_ACTIONS, Action, require, role_of


def _record(
    user,
    project: Project,
    label: str,
    snapshot: dict,
    action: str,
    kind: str = EntryKind.CHANGE,
    extra: dict | None = None,
) -> LogEntry:
    """Append the ledger entry for a change: subject ``label`` with the digest of its content."""
    predicate = {"action": action, "workProduct": label, "content": snapshot, **(extra or {})}
    (entry,) = ledger.append(
        project, [Record(kind, [Subject(label, digest_of(snapshot))], predicate)], user=user
    )
    return entry


def _clean(obj, exclude: list[str] | None = None) -> None:
    obj.full_clean(exclude=exclude, validate_unique=True)


def _create(user, project: Project, label: str, obj):
    """The plain create: role check, validation, save, and the ledger entry ``label:code``."""
    require(user, project, Action.EDIT)
    _clean(obj)
    obj.save()
    _record(user, project, f"{label}:{obj.code}", obj.snapshot(), "create")
    return obj


# --- Item and HARA -------------------------------------------------------------------------


@transaction.atomic
def item_set(*, user, project: Project, **fields) -> ItemDefinition:
    require(user, project, Action.EDIT)
    if "odd_tags" in fields:
        fields["odd_tags"] = odd.clean_tags(fields["odd_tags"] or [])
    item = ItemDefinition.objects.filter(project=project).first() or ItemDefinition(project=project)
    for name, value in fields.items():
        setattr(item, name, value)
    _clean(item)
    item.save()
    _record(user, project, f"item:{project.key}", item.snapshot(), "set")
    return item


@transaction.atomic
def hazard_create(
    *, user, project: Project, code: str, title: str, description: str = ""
) -> Hazard:
    return _create(
        user,
        project,
        "hazard",
        Hazard(project=project, code=code, title=title, description=description),
    )


def _update(user, project: Project, label: str, obj, fields: dict):
    """The plain update: role check, validation, save, and the ledger entry ``label:code``
    (nothing when no field changed). The code names the object in the ledger: it stays."""
    require(user, project, Action.EDIT)
    if obj.project_id != project.pk:
        raise ValidationError({"code": "It belongs to another project."})
    fields.pop("code", None)
    before = obj.snapshot()
    for name, value in fields.items():
        setattr(obj, name, value)
    _clean(obj)
    if obj.snapshot() == before:
        return obj
    obj.save()
    _record(user, project, f"{label}:{obj.code}", obj.snapshot(), "update")
    return obj


@transaction.atomic
def hazard_update(*, user, project: Project, hazard: Hazard, **fields) -> Hazard:
    return _update(user, project, "hazard", hazard, fields)


@transaction.atomic
def situation_update(
    *, user, project: Project, situation: OperationalSituation, **fields
) -> OperationalSituation:
    return _update(user, project, "situation", situation, fields)


@transaction.atomic
def situation_create(
    *, user, project: Project, code: str, description: str
) -> OperationalSituation:
    return _create(
        user,
        project,
        "situation",
        OperationalSituation(project=project, code=code, description=description),
    )


def _check_rating(event: HazardousEvent) -> None:
    """Validate S, E and C with the rule itself, so the message names the bad class."""
    errors = {}
    for field, value, allowed in (
        ("severity", event.severity, iso26262.Severity),
        ("exposure", event.exposure, iso26262.Exposure),
        ("controllability", event.controllability, iso26262.Controllability),
    ):
        if value not in {m.value for m in allowed}:
            names = ", ".join(m.value for m in allowed)
            errors[field] = f"{value!r} is not a valid class; use one of {names} (ISO 26262-3)."
    for field in ("severity_rationale", "exposure_rationale", "controllability_rationale"):
        if not (getattr(event, field) or "").strip():
            errors[field] = "Every rating needs a rationale."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def hazardous_event_save(
    *, user, project: Project, event: HazardousEvent | None = None, **fields
) -> HazardousEvent:
    """Create or change a hazardous event; the ASIL is computed and the goals above it follow."""
    require(user, project, Action.EDIT)
    creating = event is None
    event = event or HazardousEvent(project=project)
    for name, value in fields.items():
        setattr(event, name, value)
    _check_rating(event)
    for related in ("hazard", "situation"):
        if getattr(event, related).project_id != project.pk:
            raise ValidationError({related: "It belongs to another project."})
    _clean(event, exclude=["asil"])
    event.save()
    _record(
        user, project, f"event:{event.code}", event.snapshot(), "create" if creating else "update"
    )
    for goal in event.goals.all():
        _refresh_goal(user, project, goal)
    return event


def _refresh_goal(user, project: Project, goal: SafetyGoal) -> None:
    asils = [e.asil for e in goal.events.all()]
    new = iso26262.safety_goal_asil(asils) if asils else "QM"
    if new != goal.asil:
        goal.asil = new
        goal.save(update_fields=["asil"])
        _mark_suspect(Q(target_goal=goal), f"safety goal {goal.code} changed its ASIL to {new}")
        _record(user, project, f"goal:{goal.code}", goal.snapshot(), "asil")


@transaction.atomic
def safety_goal_save(
    *,
    user,
    project: Project,
    goal: SafetyGoal | None = None,
    events: list[HazardousEvent] | None = None,
    **fields,
) -> SafetyGoal:
    require(user, project, Action.EDIT)
    creating = goal is None
    goal = goal or SafetyGoal(project=project)
    before = None if creating else goal.snapshot()
    for name, value in fields.items():
        setattr(goal, name, value)
    if events is not None and any(e.project_id != project.pk for e in events):
        raise ValidationError({"events": "Every hazardous event must belong to this project."})
    _clean(goal, exclude=["asil"])
    if events is not None:
        goal.asil = iso26262.safety_goal_asil([e.asil for e in events]) if events else "QM"
    goal.save()
    if events is not None:
        goal.events.set(events)
    after = goal.snapshot()
    if before is not None and before != after:
        _mark_suspect(Q(target_goal=goal), f"safety goal {goal.code} changed")
    _record(user, project, f"goal:{goal.code}", after, "create" if creating else "update")
    return goal


# --- Requirements, links, decompositions ------------------------------------------------------


def _check_asil(value: str) -> str:
    try:
        return str(iso26262.parse_asil(value))
    except ValueError as exc:
        raise ValidationError({"asil": f"{exc} (notation: QM, A-D, or X(Y) such as B(D))"}) from exc


def _approve(requirement: Requirement) -> None:
    """Bind the approval to the content it approves: a later change makes it stale."""
    requirement.approved_digest = reviews.requirement_digest(requirement)
    requirement.approved_version = requirement.version


@transaction.atomic
def requirement_create(
    *,
    user,
    project: Project,
    code: str,
    kind: str,
    title: str = "",
    text: str = "",
    asil: str = "QM",
    **fields,
) -> Requirement:
    """Create a requirement. Its status is draft or in review unless a reviewer creates it
    (approved then cites the content it was created with)."""
    require(user, project, Action.EDIT)
    if "status" in fields:
        lifecycle.check_role(user, project, fields["status"])
    requirement = Requirement(
        project=project,
        code=code,
        kind=kind,
        title=title,
        text=text,
        asil=_check_asil(asil),
        **fields,
    )
    if requirement.status == RequirementStatus.APPROVED:
        _approve(requirement)
    _clean(requirement)
    requirement.save()
    _record(user, project, f"requirement:{code}", requirement.snapshot(), "create")
    return requirement


@transaction.atomic
def requirement_update(*, user, requirement: Requirement, **fields) -> Requirement:
    """Change a requirement. A content change bumps the version, turns every link that depends
    on it suspect, makes older verification evidence stale and sends an approved requirement
    back to review (unless a reviewer sets its status in the same change).

    ``status`` may be sent only with a value the caller's role may set and a step the life
    cycle has (:mod:`compliance.status`); the refusal names the field and nothing is written.
    """
    project = requirement.project
    require(user, project, Action.EDIT)
    if "status" in fields:
        lifecycle.check_role(user, project, fields["status"])
    return _requirement_change(user, requirement, fields, action="update")


@transaction.atomic
def requirement_review(*, user, requirement: Requirement, status: str) -> Requirement:
    """The review of a requirement: approve it (or return it to draft or review, or retire it
    as obsolete). Only a role that may review; recorded as a ``review`` in the ledger. An
    approval cites the digest of the content at its version (``approvedDigest``)."""
    require(user, requirement.project, Action.REVIEW)
    lifecycle.check_role(user, requirement.project, status)
    return _requirement_change(user, requirement, {"status": status}, action="review")


def _requirement_change(user, requirement: Requirement, fields: dict, *, action: str):
    """Apply ``fields`` along the status life cycle and record one ledger entry naming the
    changed fields and, when the status moved, the step (``status``: from, to, why)."""
    project = requirement.project
    requirement = Requirement.objects.select_for_update().get(pk=requirement.pk)
    if "asil" in fields:
        fields["asil"] = _check_asil(fields["asil"])
    changed = [n for n, v in fields.items() if getattr(requirement, n) != v]
    if not changed:
        return requirement
    before = requirement.status
    content_changed = any(n in CONTENT_FIELDS for n in changed)
    # The approval was of the old content: a content change first sends the requirement back
    # to review, and a status sent with the change is a step from there.
    current = (
        RequirementStatus.IN_REVIEW
        if content_changed and before == RequirementStatus.APPROVED
        else before
    )
    wanted = fields.get("status", current)
    lifecycle.check_step(user, project, current, wanted)
    for name, value in fields.items():
        setattr(requirement, name, value)
    requirement.status = wanted
    if content_changed:
        requirement.version += 1
    extra: dict = {}
    if wanted != before:
        if "status" not in changed:
            changed.append("status")
        extra["status"] = _status_step(requirement, before, wanted, content_changed)
    if wanted == RequirementStatus.APPROVED and (content_changed or before != wanted):
        _approve(requirement)
        extra["approvedDigest"] = requirement.approved_digest
    _clean(requirement)
    requirement.save()
    if content_changed:
        requirement_content_changed(requirement)
    _record(
        user,
        project,
        f"requirement:{requirement.code}",
        requirement.snapshot(),
        action,
        extra={"changed": sorted(changed), **extra},
    )
    return requirement


def _status_step(requirement: Requirement, before: str, after: str, content_changed: bool):
    step = {"from": before, "to": after}
    if before == RequirementStatus.APPROVED and content_changed:
        step["reason"] = (
            f"content changed to version {requirement.version}: the approval of version "
            f"{requirement.approved_version} ({requirement.approved_digest[:12]}) is stale"
        )
    return step


def _mark_suspect(condition: Q, reason: str) -> int:
    return TraceLink.objects.filter(condition).update(suspect=True, suspect_reason=reason[:300])


def requirement_content_changed(requirement: Requirement) -> None:
    """What a new version of a requirement's content does to what rests on it: its links turn
    suspect and its older verification evidence stale. Called inside the transaction of the
    change, by :func:`requirement_update` and by the importers' bulk updates; it checks no role
    and records nothing itself."""
    reason = f"{requirement.code} changed to version {requirement.version}"
    _mark_suspect(Q(target_requirement=requirement) | Q(source=requirement), reason)
    Verification.objects.filter(
        requirement=requirement, requirement_version__lt=requirement.version
    ).update(stale=True, stale_reason=f"older than {requirement.code} v{requirement.version}")


@transaction.atomic
def link_create(
    *,
    user,
    project: Project,
    source: Requirement,
    kind: str,
    target_requirement: Requirement | None = None,
    target_goal: SafetyGoal | None = None,
    reqif_identifier: str = "",
) -> TraceLink:
    require(user, project, Action.EDIT)
    if (target_requirement is None) == (target_goal is None):
        raise ValidationError({"target": "Link to exactly one requirement or safety goal."})
    target = target_requirement or target_goal
    broken = links.violation(lambda: links.LinkGraph(project), project, source, kind, target)
    if broken is not None:
        raise broken.error()
    link = TraceLink(
        project=project,
        kind=kind,
        source=source,
        target_requirement=target_requirement,
        target_goal=target_goal,
        source_version=source.version,
        target_version=getattr(target, "version", 1),
        reqif_identifier=reqif_identifier,
    )
    _clean(link)
    link.save()
    _record(user, project, f"link:{source.code}>{kind}>{target.code}", link.snapshot(), "create")
    return link


@transaction.atomic
def link_remove(*, user, link: TraceLink, reason: str) -> None:
    """Remove a trace link, saying why; the ledger keeps the link and the reason. A link that
    carries a recorded decomposition (a child below its parent's ASIL) stays: without it the
    child's lower ASIL would break the ASIL rule (ISO 26262-9 clause 5)."""
    project = link.project
    require(user, project, Action.EDIT)
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the link goes."})
    if (
        link.kind == "derives-from"
        and link.target_requirement_id is not None
        and Decomposition.objects.filter(parent_id=link.target_requirement_id)
        .filter(Q(first_id=link.source_id) | Q(second_id=link.source_id))
        .exists()
    ):
        raise ValidationError(
            {
                "reason": f"{link.source.code} is a recorded decomposition child of "
                f"{link.target.code}; the link is part of that decomposition and stays."
            }
        )
    label = f"link:{link.source.code}>{link.kind}>{link.target.code}"
    snapshot = {**link.snapshot(), "reason": reason}
    link.delete()
    _record(user, project, label, snapshot, "remove")


@transaction.atomic
def link_clear_suspect(*, user, link: TraceLink, comment: str) -> TraceLink:
    project = link.project
    require(user, project, Action.REVIEW)
    if not comment or not comment.strip():
        raise ValidationError({"comment": "Say why the link still holds."})
    if not link.suspect:
        raise ValidationError({"suspect": "The link is not suspect."})
    link.suspect = False
    link.suspect_reason = ""
    link.cleared_by = user
    link.cleared_comment = comment
    link.source_version = link.source.version
    link.target_version = getattr(link.target, "version", 1)
    link.save()
    _record(
        user,
        project,
        f"link:{link.source.code}>{link.kind}>{link.target.code}",
        {**link.snapshot(), "comment": comment},
        "clear-suspect",
        kind=EntryKind.APPROVAL,
    )
    return link


@transaction.atomic
def decomposition_record(
    *,
    user,
    project: Project,
    parent: Requirement,
    first: Requirement,
    second: Requirement,
    elements: str,
    dependent_failure_analysis: str,
    link_children: bool = False,
) -> Decomposition:
    """Record an ASIL decomposition; only the pairs of ISO 26262-9 clause 5 are accepted.

    With ``link_children`` each child not yet linked derives-from the parent gets that link
    (through :func:`link_create`, after the decomposition that lets it lower the ASIL), in the
    same transaction."""
    require(user, project, Action.EDIT)
    if any(r.project_id != project.pk for r in (parent, first, second)):
        raise ValidationError({"parent": "All requirements must belong to this project."})
    if first.pk == second.pk or parent.pk in (first.pk, second.pk):
        raise ValidationError({"second": "A decomposition needs two distinct child requirements."})
    problem = iso26262.decomposition_error(parent.asil, first.asil, second.asil)
    if problem:
        raise ValidationError({"asil": problem})
    errors = {}
    if not elements.strip():
        errors["elements"] = "Name the sufficiently independent elements."
    if not dependent_failure_analysis.strip():
        errors["dependent_failure_analysis"] = "Cite the dependent failure analysis."
    if errors:
        raise ValidationError(errors)
    snapshot = {
        "parent": parent.code,
        "parent_asil": parent.asil,
        "children": [[first.code, first.asil], [second.code, second.asil]],
        "elements": elements,
        "dfa": dependent_failure_analysis,
    }
    entry = _record(
        user, project, f"decomposition:{parent.code}", snapshot, "create", kind=EntryKind.DECISION
    )
    decomposition = Decomposition.objects.create(
        project=project,
        parent=parent,
        first=first,
        second=second,
        elements=elements,
        dependent_failure_analysis=dependent_failure_analysis,
        recorded_by=user,
        entry=entry,
    )
    if link_children:
        linked = set(
            TraceLink.objects.filter(
                target_requirement=parent, kind="derives-from", source__in=[first, second]
            ).values_list("source_id", flat=True)
        )
        for child in (first, second):
            if child.pk not in linked:
                link_create(
                    user=user,
                    project=project,
                    source=child,
                    kind="derives-from",
                    target_requirement=parent,
                )
    return decomposition


@transaction.atomic
def verification_record(
    *,
    user,
    project: Project,
    requirement: Requirement,
    method: str,
    result: str,
    summary: str = "",
    entry: LogEntry | None = None,
    extra: dict | None = None,
) -> Verification:
    """Record that the current version of ``requirement`` was verified (or failed)."""
    require(user, project, Action.EDIT)
    if requirement.project_id != project.pk:
        raise ValidationError({"requirement": "It belongs to another project."})
    if result not in ("pass", "fail", "inconclusive"):
        raise ValidationError({"result": "Use pass, fail or inconclusive."})
    if entry is None:
        snapshot = {
            "requirement": requirement.code,
            "version": requirement.version,
            "method": method,
            "result": result,
            "summary": summary,
            **(extra or {}),
        }
        entry = _record(
            user,
            project,
            f"verification:{requirement.code}",
            snapshot,
            "verify",
            kind=EntryKind.VALIDATION_RESULT,
        )
    return Verification.objects.create(
        project=project,
        requirement=requirement,
        requirement_version=requirement.version,
        method=method,
        result=result,
        summary=summary,
        entry=entry,
    )


# --- Baselines -------------------------------------------------------------------------------


def baseline_content(project: Project) -> dict[str, dict]:
    """Every item, HARA row, goal, requirement, link and SOTIF element, by a stable key."""
    return reviews.work_product_content(project)


def merkle_root_of(content: dict[str, dict]) -> str:
    from evidence import verify

    leaves = [
        verify.leaf_hash(canonical_json({"key": k, "value": content[k]})) for k in sorted(content)
    ]
    return verify.root_hash(leaves).hex()


@transaction.atomic
def baseline_freeze(*, user, project: Project, name: str) -> Baseline:
    require(user, project, Action.REVIEW)
    if not name or not name.strip():
        raise ValidationError({"name": "A baseline needs a name."})
    if Baseline.objects.filter(project=project, name=name).exists():
        raise ValidationError(
            {"name": ValidationError(f"A baseline named {name!r} exists already.", code="unique")}
        )
    content = baseline_content(project)
    root = merkle_root_of(content)
    (entry,) = ledger.append(
        project,
        [
            Record(
                EntryKind.BASELINE,
                [Subject(f"baseline:{name}", root)],
                {"name": name, "items": len(content), "merkleRoot": root},
            )
        ],
        user=user,
    )
    return Baseline.objects.create(
        project=project,
        name=name,
        root=root,
        content=content,
        item_count=len(content),
        created_by=user,
        entry=entry,
    )


def baseline_diff(old: Baseline, new: Baseline) -> dict:
    """Added, removed and changed items between two baselines, changes field by field."""
    a, b = old.content, new.content
    changed = {}
    for key in sorted(set(a) & set(b)):
        if a[key] != b[key]:
            fields = sorted(set(a[key]) | set(b[key]))
            changed[key] = {
                f: [a[key].get(f), b[key].get(f)] for f in fields if a[key].get(f) != b[key].get(f)
            }
    return {
        "from": old.name,
        "to": new.name,
        "added": sorted(set(b) - set(a)),
        "removed": sorted(set(a) - set(b)),
        "changed": changed,
    }


# --- Confirmation measures -------------------------------------------------------------------


def _person(user, recorded) -> iso26262.Person:
    """The independence facts of ``user`` as the ledger recorded them; unknown without an entry
    (or after a recorded removal), and unknown never counts as independent."""
    placed = recorded is not None and recorded.role is not None
    return iso26262.Person(
        user_id=user.pk,
        team=(recorded.team if placed else None) or None,
        org_unit=(recorded.org_unit if placed else None) or None,
    )


def _unrecorded(project: Project, people: dict, recorded: dict) -> str:
    missing = [u.username for u in people.values() if u.pk not in recorded]
    if not missing:
        return ""
    return (
        f"; no membership of {', '.join(sorted(set(missing)))} is recorded in the {project.key} "
        "ledger, so their team and organisational unit count as unknown"
    )


@transaction.atomic
def approval_record(
    *,
    user,
    project: Project,
    measure: str,
    work_product: str,
    author,
    asil: str,
    outcome: str,
    findings: str = "",
    baseline: Baseline | None = None,
) -> Approval:
    """Sign a confirmation measure. Refused when the reviewer is the author or does not reach
    the independence ISO 26262-2 Table 1 requires for the measure at the ASIL.

    Independence is computed from the memberships as the ledger recorded them -- the latest
    ``membership`` entry of the author and of the reviewer before this approval -- never from
    the editable membership rows, and the approval's entry cites those entries (index, digest
    and leaf hash). A person without such an entry (a membership from before memberships were
    ledgered, or a superuser who is no member) has an unknown team and organisational unit:
    they can reach I1 at most. A reviewer whose recorded role may not confirm is refused.

    The approval cites the digest of every work product in the measure's scope
    (:data:`compliance.reviews.MEASURE_SCOPES`), as they are in ``baseline`` when one is given,
    else as they are now; the entry records the set's digest, so a later change to any of them,
    or a new one, makes the review stale.
    """
    require(user, project, Action.CONFIRM)
    asil = _check_asil(asil)
    if outcome not in ("confirmed", "confirmed_with_findings", "not_confirmed"):
        raise ValidationError(
            {"outcome": "Use confirmed, confirmed_with_findings or not_confirmed."}
        )
    lock_log(project)  # nothing enters the log between reading the memberships and this entry
    recorded = recorded_placements(project, [author, user])
    mine = recorded.get(user.pk)
    if mine is not None and Action.CONFIRM not in ROLE_ACTIONS.get(mine.role or "", ()):
        raise ValidationError(
            {
                "reviewer": f"The {project.key} ledger records {user.username} as "
                f"{mine.role or 'no longer a member'} (entry {mine.index}); that role may not "
                "sign confirmation measures."
            }
        )
    try:
        achieved = iso26262.check_approval(
            measure,
            asil,
            _person(author, recorded.get(author.pk)),
            _person(user, mine),
        )
    except iso26262.RuleViolation as exc:
        unknown = _unrecorded(project, {"a": author, "r": user}, recorded)
        raise ValidationError({"reviewer": f"{exc}{unknown}"}) from exc
    except ValueError as exc:
        raise ValidationError({"measure": str(exc)}) from exc
    required = iso26262.required_independence(measure, iso26262.confirmation_asil(asil))
    if baseline is not None and baseline.project_id != project.pk:
        raise ValidationError({"baseline": "It belongs to another project."})
    cited = (
        reviews.scope_digests(measure, baseline.content)
        if baseline is not None
        else reviews.current_digests(project, measure)
    )
    snapshot = {
        "measure": measure,
        "workProduct": work_product,
        "asil": asil,
        "author": author.username,
        "reviewer": user.username,
        "required": required,
        "achieved": achieved,
        "outcome": outcome,
        "findings": findings,
        "baseline": baseline.root if baseline else None,
        "cites": reviews.citation(cited),
    }
    memberships = {
        "author": recorded[author.pk].citation() if author.pk in recorded else None,
        "reviewer": mine.citation() if mine else None,
    }
    entry = _record(
        user,
        project,
        f"approval:{measure}:{work_product}",
        snapshot,
        "approve",
        kind=EntryKind.APPROVAL,
        extra={"memberships": memberships},
    )
    return Approval.objects.create(
        project=project,
        measure=measure,
        work_product=work_product,
        baseline=baseline,
        cited=cited,
        asil=asil,
        author=author,
        reviewer=user,
        reviewer_role=mine.role if mine else role_of(user, project),
        reviewer_team=mine.team if mine else "",
        reviewer_org_unit=mine.org_unit if mine else "",
        required_independence=required,
        achieved_independence=achieved,
        outcome=outcome,
        findings=findings,
        entry=entry,
    )


# --- SOTIF -----------------------------------------------------------------------------------


@transaction.atomic
def triggering_condition_create(
    *, user, project: Project, code: str, description: str, area: int = 2
) -> TriggeringCondition:
    return _create(
        user,
        project,
        "tc",
        TriggeringCondition(project=project, code=code, description=description, area=area),
    )


@transaction.atomic
def insufficiency_create(
    *, user, project: Project, code: str, description: str, kind: str, triggering_conditions=()
) -> FunctionalInsufficiency:
    require(user, project, Action.EDIT)
    fi = FunctionalInsufficiency(project=project, code=code, description=description, kind=kind)
    _clean(fi)
    fi.save()
    fi.triggering_conditions.set(triggering_conditions)
    _record(user, project, f"fi:{code}", fi.snapshot(), "create")
    return fi


@transaction.atomic
def hazardous_behaviour_create(
    *,
    user,
    project: Project,
    code: str,
    description: str,
    insufficiencies=(),
    goal: SafetyGoal | None = None,
) -> HazardousBehaviour:
    require(user, project, Action.EDIT)
    hb = HazardousBehaviour(project=project, code=code, description=description, goal=goal)
    _clean(hb)
    hb.save()
    hb.insufficiencies.set(insufficiencies)
    _record(user, project, f"hb:{code}", hb.snapshot(), "create")
    return hb


def compute_criterion(ac: AcceptanceCriterion) -> None:
    """Fill the hazardous-behaviour rate and the validation target from the inputs (§6.1, §7)."""
    try:
        if ac.acceptable_harm_rate is not None:
            ac.hazardous_behaviour_rate = statistics.sotif_hazardous_behaviour_rate(
                ac.acceptable_harm_rate, ac.p_exposure, ac.p_not_controllable, ac.p_severe
            )
        if ac.unit == "cases":
            if ac.allowed_failure_probability is None:
                raise ValidationError(
                    {"allowed_failure_probability": "Needed for per-case criteria."}
                )
            if ac.tolerated_failures:
                ac.validation_target = float(
                    _cases_needed(
                        ac.allowed_failure_probability, ac.confidence, ac.tolerated_failures
                    )
                )
            else:
                ac.validation_target = float(
                    statistics.runs_needed(ac.allowed_failure_probability, ac.confidence)
                )
        else:
            if ac.hazardous_behaviour_rate is None:
                raise ValidationError(
                    {"hazardous_behaviour_rate": "Give the rate or A_H, P_E, P_C, P_S."}
                )
            ac.validation_target = statistics.exposure_needed(
                ac.hazardous_behaviour_rate, ac.confidence, ac.tolerated_failures
            )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError({"confidence": str(exc)}) from exc


def _cases_needed(p: float, confidence: float, failures: int) -> int:
    """Smallest n whose Clopper-Pearson upper bound with ``failures`` failures is <= p."""
    lo, hi = failures + 1, failures + 1
    while statistics.clopper_pearson_upper(failures, hi, confidence) > p:
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if statistics.clopper_pearson_upper(failures, mid, confidence) <= p:
            hi = mid
        else:
            lo = mid + 1
    return lo


@transaction.atomic
def acceptance_criterion_save(
    *, user, project: Project, criterion: AcceptanceCriterion | None = None, **fields
) -> AcceptanceCriterion:
    """Create or update an acceptance criterion; its ``scope`` (see :mod:`compliance.scope`) is
    validated and stored in canonical form, and a bad one is refused on the field ``scope``."""
    require(user, project, Action.EDIT)
    creating = criterion is None
    if "scope" in fields:
        fields["scope"] = criterion_scope.clean(fields["scope"])
    criterion = criterion or AcceptanceCriterion(project=project)
    for name, value in fields.items():
        setattr(criterion, name, value)
    if criterion.comparator and criterion.comparator not in ("<", "<=", ">", ">="):
        raise ValidationError({"comparator": "Use <, <=, > or >=."})
    compute_criterion(criterion)
    _clean(criterion, exclude=["validation_target"])
    criterion.save()
    _record(
        user,
        project,
        f"ac:{criterion.code}",
        criterion.snapshot(),
        "create" if creating else "update",
    )
    return criterion
