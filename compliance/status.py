"""The life of a requirement's status: draft, in review, approved, and obsolete.

::

    draft <-> in review --review--> approved --content change--> in review
      \\____________review__________/^
    any --review--> obsolete --review--> draft

Approving is a review: only a role that may review approves, and the approval cites the digest
of the content it approved. A content change of an approved requirement sends it back to review
(its approval is then stale); nothing else takes a requirement out of approval except a review.
A retired (obsolete) requirement comes back only as a draft, by a review. Every other step is
refused with the steps that are allowed from where the requirement is.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from compliance.models import RequirementStatus
from compliance.reviews import digest_of
from evidence import ledger
from evidence.ledger import Record, Subject
from evidence.models import EntryKind
from projects.models import Project
from projects.permissions import Action, can, role_of

DRAFT = RequirementStatus.DRAFT
IN_REVIEW = RequirementStatus.IN_REVIEW
APPROVED = RequirementStatus.APPROVED
OBSOLETE = RequirementStatus.OBSOLETE

#: Each allowed step, with the action the role must have to take it.
STEPS: dict[tuple[str, str], Action] = {
    (DRAFT, IN_REVIEW): Action.EDIT,
    (IN_REVIEW, DRAFT): Action.EDIT,
    (DRAFT, APPROVED): Action.REVIEW,
    (IN_REVIEW, APPROVED): Action.REVIEW,
    (APPROVED, IN_REVIEW): Action.EDIT,
    (APPROVED, DRAFT): Action.REVIEW,
    (DRAFT, OBSOLETE): Action.REVIEW,
    (IN_REVIEW, OBSOLETE): Action.REVIEW,
    (APPROVED, OBSOLETE): Action.REVIEW,
    (OBSOLETE, DRAFT): Action.REVIEW,
}

# What a review decides; whoever edits requirements decides only draft and in review.
REVIEW_STATUSES = frozenset({APPROVED, OBSOLETE})


def may_set(user, project: Project, status: str) -> bool:
    """Whether ``user``'s role in ``project`` may give a requirement ``status`` at all."""
    return status not in REVIEW_STATUSES or can(user, project, Action.REVIEW)


def check_known(status: str) -> None:
    if status not in RequirementStatus.values:
        raise ValidationError({"status": f"Use one of {', '.join(RequirementStatus.values)}."})


def check_role(user, project: Project, status: str) -> None:
    check_known(status)
    if not may_set(user, project, status):
        raise ValidationError(
            {
                "status": f"The role {role_of(user, project)} may not set a requirement's status "
                f"to {status}: approving or retiring a requirement is a review, by a safety "
                "manager or an administrator."
            }
        )


def allowed_from(current: str, user=None, project: Project | None = None) -> list[str]:
    """The statuses a requirement in ``current`` may go to (by ``user``, when given)."""
    return [
        to
        for (start, to), action in STEPS.items()
        if start == current and (user is None or can(user, project, action))
    ]


def may_step(user, project: Project, current: str, status: str) -> bool:
    """Whether ``user``'s role may take a requirement from ``current`` to ``status``."""
    if status == current:
        return True
    if not may_set(user, project, status):
        return False
    return (current, status) in STEPS and can(user, project, STEPS[(current, status)])


def check_step(user, project: Project, current: str, status: str) -> None:
    """Refuse a step the life cycle does not have, naming the steps it has from ``current``."""
    if status == current:
        return
    check_role(user, project, status)
    if may_step(user, project, current, status):
        return
    allowed = ", ".join(allowed_from(current)) or "none"
    raise ValidationError(
        {
            "status": f"A requirement cannot go from {current} to {status}: from {current} it "
            f"may go to {allowed}. An approved requirement returns to review when its content "
            "changes; only a review approves, retires or reinstates one."
        }
    )


# --- Bulk writes (the importers) ---------------------------------------------------------------


def return_to_review(requirement) -> bool:
    """A bulk write changed ``requirement``'s content: an approved one goes back to review (its
    approval is of the old content). Says whether it moved; the caller records the moves with
    :func:`record_returns` once the rows are written."""
    if requirement.status != APPROVED:
        return False
    requirement.status = IN_REVIEW
    return True


def record_returns(user, project: Project, requirements, action: str = "import") -> None:
    """One ledger entry per requirement a bulk write sent back to review, as a single change
    records it: its content, the changed status and the step with its reason."""
    records = []
    for requirement in requirements:
        content = requirement.snapshot()
        step = {
            "from": APPROVED,
            "to": IN_REVIEW,
            "reason": f"content changed to version {requirement.version}: the approval of "
            f"version {requirement.approved_version} ({requirement.approved_digest[:12]}) is "
            "stale",
        }
        label = f"requirement:{requirement.code}"
        predicate = {
            "action": action,
            "workProduct": label,
            "content": content,
            "changed": ["status"],
            "status": step,
        }
        records.append(Record(EntryKind.CHANGE, [Subject(label, digest_of(content))], predicate))
    if records:
        ledger.append(project, records, user=user)
