"""Review sessions with electronic signatures, and comments with mentions.

A role that may review opens a session over a set of work products (by the keys baselines use,
``requirement:FSR-1``, ``goal:SG-1``) or over a baseline's, for named reviewers. The session
fixes, per item, the digest of the exact content under review and the independence ISO 26262-2
Table 1 requires for the session's confirmation measure at the item's ASIL (REFERENCE.md §3.2;
a decomposed ASIL is read at its original level). Each named reviewer then approves or rejects
item by item, with a stated meaning (authored, reviewed, approved) and a comment (required for a
rejection), after entering the password again (or right after a fresh single sign-on).

What a signature binds and what is checked when it is made:

- it cites the item's digest; any later change of the content makes it stale, which is
  computed, never stored (:func:`signature_states`);
- only a reviewer named in the session signs, only while it is open, and the role must allow
  the meaning (approved: review or confirm; reviewed: edit, review or confirm; authored: edit);
- "reviewed" and "approved" are refused from anyone who wrote a version of the item, and below
  the required independence. The authors are the people who recorded a creation or a change of
  the item in the ledger (a ``review`` entry is not authorship); the signer's and the authors'
  team and organisational unit are read from the ledger's membership entries, as confirmation
  measures read them (:func:`evidence.membership.recorded_placements`). Another person is I1,
  another recorded team I2, another recorded organisational unit I3; an unknown team or unit
  never counts as different;
- "authored" is accepted only from one of those authors.

What cannot be checked from the data, and is left to the people who record the memberships:
whether two teams really report to different direct superiors and whether an organisational
unit really is independent in management, resources and release authority (the labels are
taken as recorded by another administrator); and who wrote content that entered through a file
import (the import is one entry for the whole file), so an item no entry names an author of
cannot be signed "reviewed" or "approved".

Every opening, signature, revocation (with its reason), closing and comment is a ledger entry
appended in the same transaction; a signature is never edited, a revocation is a new row.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mass_mail
from django.db import transaction

from compliance import iso26262, reviews
from compliance.models import (
    Baseline,
    Comment,
    ReviewItem,
    ReviewSession,
    Signature,
    SignatureDecision,
    SignatureMeaning,
    SignatureRevocation,
)
from compliance.services import _person
from evidence import ledger
from evidence.ledger import Record, Subject
from evidence.membership import lock_log, recorded_placements
from evidence.models import EntryKind, LogEntry
from evidence.verification import statement_of
from projects.models import Project
from projects.permissions import ROLE_ACTIONS, Action, can, require

#: The session key a single sign-on login sets (POSIX seconds) when the identity provider
#: made the user sign in again; a signature accepts it for :data:`REAUTH_MAX_AGE` seconds.
SSO_AUTHENTICATED_AT = "safecase_sso_authenticated_at"
REAUTH_MAX_AGE = 300

#: The roles' actions that may sign each meaning.
MEANING_ACTIONS = {
    SignatureMeaning.AUTHORED: (Action.EDIT,),
    SignatureMeaning.REVIEWED: (Action.EDIT, Action.REVIEW, Action.CONFIRM),
    SignatureMeaning.APPROVED: (Action.REVIEW, Action.CONFIRM),
}

MENTION = re.compile(r"(?<![\w.@])@([\w.+-]+)")
MAX_ITEMS = 2000
#: Entries whose ``action`` is one of these record someone writing the work product.
AUTHORING_ACTIONS = ("create", "update", "set", "asil")


def item_digest(key: str, value: dict) -> str:
    """The digest a signature binds: a requirement's content (what a new version changes, not
    its status), any other work product's canonical snapshot."""
    if key.startswith("requirement:"):
        return reviews.requirement_digest_of_row(value.get(f, "") for f in reviews.DIGEST_FIELDS)
    return reviews.digest_of(value)


def _entry(user, project: Project, subject: str, digest: str, predicate: dict, kind=None):
    (entry,) = ledger.append(
        project,
        [Record(kind or EntryKind.APPROVAL, [Subject(subject, digest)], predicate)],
        user=user,
    )
    return entry


def _goal_asil(content: dict[str, dict]) -> str:
    asils = [v["asil"] for k, v in content.items() if k.startswith("goal:") and v.get("asil")]
    return iso26262.safety_goal_asil(asils) if asils else "QM"


def _asil_of(value: dict, fallback: str) -> str:
    try:
        return iso26262.confirmation_asil(value.get("asil") or fallback)
    except ValueError:
        return iso26262.confirmation_asil(fallback)


# --- Opening and closing -------------------------------------------------------------------


@transaction.atomic
def session_open(
    *,
    user,
    project: Project,
    title: str,
    measure: str,
    reviewers: Iterable,
    keys: Iterable[str] = (),
    baseline: Baseline | None = None,
) -> ReviewSession:
    """Open a review of ``keys`` (as they are now) or of every requirement and goal of
    ``baseline`` (as it froze them) for ``reviewers``; each is told by e-mail."""
    require(user, project, Action.REVIEW)
    errors: dict[str, str] = {}
    if not (title or "").strip():
        errors["title"] = "A review needs a title."
    if measure not in iso26262.ConfirmationMeasure.__members__.values():
        names = ", ".join(m.value for m in iso26262.ConfirmationMeasure)
        errors["measure"] = f"Unknown confirmation measure {measure!r}; use one of {names}."
    reviewers = list({r.pk: r for r in reviewers}.values())
    if not reviewers:
        errors["reviewers"] = "Name at least one reviewer."
    unfit = [
        r.username
        for r in reviewers
        if not can(r, project, Action.EDIT)
        and not any(can(r, project, a) for a in (Action.REVIEW, Action.CONFIRM))
    ]
    if unfit:
        errors["reviewers"] = (
            f"{', '.join(sorted(unfit))} may not sign in {project.key}: name members whose role "
            "may edit, review or confirm."
        )
    if baseline is not None and baseline.project_id != project.pk:
        errors["baseline"] = "It belongs to another project."
    keys = list(dict.fromkeys(k.strip() for k in keys if k and k.strip()))
    if baseline is None and not keys:
        errors["keys"] = "Name the work products to review, or a baseline."
    if errors:
        raise ValidationError(errors)
    if baseline is not None:
        content = baseline.content
        keys = keys or sorted(k for k in content if k.startswith(("requirement:", "goal:")))
    else:
        content = reviews.work_product_content(project, {k.split(":", 1)[0] for k in keys})
    unknown = [k for k in keys if k not in content]
    if unknown:
        where = f"baseline {baseline.name}" if baseline else project.key
        shown = ", ".join(unknown[:10])
        raise ValidationError({"keys": f"Not in {where}: {shown}."})
    if len(keys) > MAX_ITEMS:
        raise ValidationError({"keys": f"A review holds at most {MAX_ITEMS} work products."})
    fallback = _goal_asil(content) if any("asil" not in content[k] for k in keys) else "QM"
    items = []
    for position, key in enumerate(keys):
        value = content[key]
        asil = _asil_of(value, fallback)
        items.append(
            ReviewItem(
                key=key,
                version=value.get("version") if key.startswith("requirement:") else None,
                digest=item_digest(key, value),
                asil=asil,
                required_independence=iso26262.required_independence(measure, asil),
                position=position,
            )
        )
    predicate = {
        "action": "open-review",
        "title": title,
        "measure": measure,
        "baseline": baseline.root if baseline else None,
        "reviewers": sorted(r.username for r in reviewers),
        "items": {i.key: i.digest for i in items},
        "required": {i.key: i.required_independence for i in items},
    }
    entry = _entry(
        user, project, f"review:{title}", reviews.digest_of(predicate["items"]), predicate
    )
    session = ReviewSession.objects.create(
        project=project,
        title=title,
        measure=measure,
        baseline=baseline,
        opened_by=user,
        entry=entry,
    )
    session.reviewers.set(reviewers)
    for item in items:
        item.session = session
    ReviewItem.objects.bulk_create(items)
    _tell(
        reviewers,
        f"[{project.key}] Review requested: {title}",
        f"{user.username} asks you to review {len(items)} work product"
        f"{'s' if len(items) != 1 else ''} of {project.key} ({session.measure_label}).",
    )
    return session


@transaction.atomic
def session_close(*, user, session: ReviewSession) -> ReviewSession:
    """Close a session: no signature is accepted after; what was signed stays."""
    project = session.project
    require(user, project, Action.REVIEW)
    session = ReviewSession.objects.select_for_update().get(pk=session.pk)
    if session.status != ReviewSession.Status.OPEN:
        raise ValidationError({"status": "The review is closed already."})
    predicate = {"action": "close-review", "review": session.entry.index, "title": session.title}
    session.closing_entry = _entry(
        user, project, f"review:{session.title}", session.entry.digest, predicate
    )
    session.status = ReviewSession.Status.CLOSED
    session.save(update_fields=["status", "closing_entry"])
    return session


# --- Re-authentication -----------------------------------------------------------------------


def reauthenticate(request, user, password: str) -> str:
    """Check, at the moment of signing, that ``user`` is at the keyboard: the password through
    Django's authentication (so django-axes counts a wrong one against the same limit as a
    login, and refuses every attempt while the pair is locked out), or, for a user without a
    password, a single sign-on completed within :data:`REAUTH_MAX_AGE` seconds. Returns how.

    Must run outside the signature's transaction: a refusal rolls that back, and the failed
    attempt must stay counted.
    """
    if request is None:
        raise ValidationError({"password": "A signature needs the signer to authenticate again."})
    if not user.has_usable_password():
        at = request.session.get(SSO_AUTHENTICATED_AT) if hasattr(request, "session") else None
        if isinstance(at, int | float) and 0 <= time.time() - at <= REAUTH_MAX_AGE:
            return "single sign-on"
        raise ValidationError(
            {
                "password": "Sign in again through single sign-on, then sign within "
                f"{REAUTH_MAX_AGE // 60} minutes."
            }
        )
    if not password:
        raise ValidationError({"password": "Enter your password to sign."})
    signed_in = authenticate(request, username=user.get_username(), password=password)
    if getattr(request, "axes_locked_out", False):
        raise PermissionDenied(
            "Too many wrong passwords: signing and logging in are locked for a while."
        )
    if signed_in is None or signed_in.pk != user.pk:
        raise ValidationError({"password": "That is not your password; nothing was signed."})
    return "password"


# --- Signing and revoking --------------------------------------------------------------------


def authors_of(project: Project, keys: Iterable[str]) -> dict[str, set[int]]:
    """The people who recorded a creation or a change of each work product, by key, read from
    the ledger's statements (never from an editable row)."""
    keys = list(keys)
    found: dict[str, set[int]] = {k: set() for k in keys}
    rows = (
        LogEntry.objects.filter(project=project, subject__in=keys)
        .exclude(recorded_by=None)
        .values_list("subject", "recorded_by", "envelope")
    )
    for subject, by, envelope in rows.iterator():
        action = statement_of(bytes(envelope)).get("predicate", {}).get("action")
        if action in AUTHORING_ACTIONS:
            found[subject].add(by)
    return found


def _independence(project, session, item, signer, meaning, recorded) -> tuple[str, str]:
    """(required, achieved) for ``signer`` on ``item``, or a ``ValidationError`` naming why
    the signature is refused."""
    authors = authors_of(project, [item.key])[item.key]
    if meaning == SignatureMeaning.AUTHORED:
        if signer.pk not in authors:
            raise ValidationError(
                {
                    "meaning": f"The ledger records no change of {item.code} by {signer.username}: "
                    "only an author signs as authored."
                }
            )
        return "", ""
    if not authors:
        raise ValidationError(
            {
                "meaning": f"The ledger names no author of {item.code} (it came in with a file "
                "import?), so the independence of a review cannot be shown."
            }
        )
    people = get_user_model().objects.in_bulk(authors)
    placements = recorded_placements(project, [signer, *people.values()])
    reviewer = _person(signer, placements.get(signer.pk))
    achieved = []
    for author_id in sorted(authors):
        try:
            achieved.append(
                iso26262.check_approval(
                    session.measure,
                    item.asil,
                    _person(people[author_id], placements.get(author_id)),
                    reviewer,
                )
            )
        except iso26262.RuleViolation as exc:
            name = people[author_id].username
            raise ValidationError({"meaning": f"{item.code} (author {name}): {exc}"}) from exc
    return item.required_independence, min(achieved)


def signature_sign(
    *,
    user,
    request,
    item: ReviewItem,
    decision: str,
    meaning: str,
    comment: str = "",
    password: str = "",
) -> Signature:
    """Sign ``item`` of its session: re-authenticate, then check and record (see the module
    docstring). A rejection needs a comment."""
    session = item.session
    project = session.project
    require(user, project, Action.VIEW)
    errors = {}
    if decision not in SignatureDecision.values:
        errors["decision"] = "Use approve or reject."
    if meaning not in SignatureMeaning.values:
        errors["meaning"] = "State the meaning: authored, reviewed or approved."
    if decision == SignatureDecision.REJECT and not (comment or "").strip():
        errors["comment"] = "Say why you reject it."
    if meaning == SignatureMeaning.AUTHORED and decision == SignatureDecision.REJECT:
        errors["decision"] = "An author signs that they wrote it: approve only."
    if errors:
        raise ValidationError(errors)
    if not session.reviewers.filter(pk=user.pk).exists():
        raise PermissionDenied(f"{user.username} is not a reviewer named in this review.")
    if not any(can(user, project, a) for a in MEANING_ACTIONS[meaning]):
        raise PermissionDenied(f"Your role in {project.key} may not sign as {meaning}.")
    how = reauthenticate(request, user, password)
    return _sign(user, item, decision, meaning, comment or "", how)


@transaction.atomic
def _sign(user, item: ReviewItem, decision: str, meaning: str, comment: str, how: str):
    session = ReviewSession.objects.select_for_update().get(pk=item.session_id)
    project = session.project
    if session.status != ReviewSession.Status.OPEN:
        raise ValidationError({"decision": "The review is closed: nothing more is signed."})
    if session.baseline_id is None:
        now = reviews.work_product_content(project, [item.key.split(":", 1)[0]]).get(item.key)
        if now is None or item_digest(item.key, now) != item.digest:
            raise ValidationError(
                {
                    "decision": f"{item.code} changed (or went) since the review opened: what you "
                    "would sign is not what is under review. Open a new review."
                }
            )
    lock_log(project)
    recorded = recorded_placements(project, [user])
    mine = recorded.get(user.pk)
    if mine is not None and not any(
        a in ROLE_ACTIONS.get(mine.role or "", ()) for a in MEANING_ACTIONS[meaning]
    ):
        raise ValidationError(
            {
                "meaning": f"The {project.key} ledger records {user.username} as "
                f"{mine.role or 'no longer a member'} (entry {mine.index}): that role may not sign "
                f"as {meaning}."
            }
        )
    required, achieved = _independence(project, session, item, user, meaning, recorded)
    predicate = {
        "action": "sign",
        "review": session.entry.index,
        "item": item.key,
        "version": item.version,
        "digest": item.digest,
        "signer": user.username,
        "signerId": user.pk,
        "meaning": meaning,
        "decision": decision,
        "comment": comment,
        "required": required,
        "achieved": achieved,
        "reauthentication": how,
        "membership": mine.citation() if mine else None,
    }
    entry = _entry(user, project, f"signature:{item.key}", item.digest, predicate)
    return Signature.objects.create(
        session=session,
        item=item,
        signer=user,
        meaning=meaning,
        decision=decision,
        comment=comment,
        digest=item.digest,
        required_independence=required,
        achieved_independence=achieved,
        reauthentication=how,
        entry=entry,
    )


@transaction.atomic
def signature_revoke(*, user, signature: Signature, reason: str) -> SignatureRevocation:
    """Withdraw a signature, with the reason: the signer, or a role that may review."""
    project = signature.session.project
    require(user, project, Action.VIEW)
    if signature.signer_id != user.pk:
        require(user, project, Action.REVIEW)
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the signature is withdrawn."})
    if SignatureRevocation.objects.filter(signature=signature).exists():
        raise ValidationError({"reason": "The signature is withdrawn already."})
    predicate = {
        "action": "revoke",
        "signature": signature.entry.index,
        "item": signature.item.key,
        "signer": signature.signer.username,
        "reason": reason,
    }
    entry = _entry(user, project, f"signature:{signature.item.key}", signature.digest, predicate)
    return SignatureRevocation.objects.create(
        signature=signature, revoked_by=user, reason=reason, entry=entry
    )


# --- Whether a signature holds ---------------------------------------------------------------


@dataclass(frozen=True)
class SignatureState:
    """A signature against the content now: ``revoked`` (with the reason) or ``stale`` (the
    content it cites changed or went) or current."""

    signature: Signature
    revoked: bool
    stale: bool
    reason: str = ""

    @property
    def label(self) -> str:
        return "revoked" if self.revoked else "stale" if self.stale else "current"


def signature_states(project: Project, signatures: Iterable[Signature], content=None):
    """Each signature's :class:`SignatureState`, by signature id, against ``content`` (the
    live work products unless a baseline's is given). The signatures need ``item`` and
    ``revocation`` loaded (``select_related``)."""
    signatures = list(signatures)
    if content is None:
        prefixes = {s.item.key.split(":", 1)[0] for s in signatures}
        content = reviews.work_product_content(project, prefixes) if prefixes else {}
    states = {}
    for s in signatures:
        revocation = s.revocation if has_revocation(s) else None
        now = content.get(s.item.key)
        if revocation is not None:
            states[s.pk] = SignatureState(s, True, False, revocation.reason)
        elif now is None:
            states[s.pk] = SignatureState(s, False, True, f"{s.item.code} is gone")
        elif item_digest(s.item.key, now) != s.digest:
            states[s.pk] = SignatureState(
                s, False, True, f"{s.item.code} changed since it was signed"
            )
        else:
            states[s.pk] = SignatureState(s, False, False)
    return states


def has_revocation(signature: Signature) -> bool:
    try:
        return signature.revocation is not None
    except SignatureRevocation.DoesNotExist:
        return False


# --- Comments --------------------------------------------------------------------------------


@transaction.atomic
def comment_add(*, user, project: Project, key: str, text: str) -> Comment:
    """Comment on the work product ``key``; every ``@username`` of a member is mentioned and
    told by e-mail once the comment is committed."""
    require(user, project, Action.VIEW)
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write the comment."})
    if len(text) > 10_000:
        raise ValidationError({"text": "A comment is at most 10,000 characters."})
    prefix = (key or "").split(":", 1)[0]
    if key not in reviews.work_product_content(project, [prefix]):
        raise ValidationError({"key": f"{project.key} has no work product {key!r}."})
    names = set(MENTION.findall(text))
    mentioned = list(
        get_user_model()
        .objects.filter(username__in=names, memberships__project=project)
        .exclude(pk=user.pk)
    )
    predicate = {
        "action": "comment",
        "workProduct": key,
        "text": text,
        "mentions": sorted(u.username for u in mentioned),
    }
    entry = _entry(
        user, project, f"comment:{key}", reviews.digest_of(text), predicate, EntryKind.CHANGE
    )
    comment = Comment.objects.create(project=project, key=key, author=user, text=text, entry=entry)
    comment.mentions.set(mentioned)
    _tell(
        mentioned,
        f"[{project.key}] {user.username} mentioned you on {key.split(':', 1)[-1]}",
        f"{user.username} wrote on {key} in {project.key}:\n\n{text}",
    )
    return comment


def _tell(users, subject: str, body: str) -> None:
    """E-mail ``users`` (those with an address) once the transaction commits."""
    sender = settings.DEFAULT_FROM_EMAIL
    mails = [
        (subject, body, sender, [address])
        for address in sorted({u.email for u in users if u.email})
    ]
    if mails:
        transaction.on_commit(lambda: send_mass_mail(mails, fail_silently=True))
