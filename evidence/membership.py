"""Who belongs to a project, in which role, team and organisational unit: every change ledgered.

Team and organisational unit decide the independence an approval achieves (ISO 26262-2 Table 1:
another team gives I2, another department or external body gives I3). So every change to a
membership -- adding a member, changing their role, team or organisational unit, removing them --
is a service here that appends a ``membership`` entry to the project's log in the same
transaction, and approvals read a person's placement from those entries
(:func:`recorded_placements`), never from the editable :class:`~projects.models.Membership` row.
An edit of that row that bypasses these services changes nothing an approval records.

Nobody changes their own membership, administrators and superusers included: a person who
could set their own organisational unit could make themselves "independent" of any author. The
one exception is the bootstrap: creating a project makes its creator the first administrator
(role only, no team or organisational unit), and :func:`membership_seed` lets an operator with
shell access (the demo seed, an installation's first set-up) record memberships with no acting
user. Both are ledgered like every other change.

This lives in ``evidence`` rather than ``projects`` because it writes the ledger, and
``projects`` sits to the left of ``evidence`` in the dependency order.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from evidence import ledger
from evidence.ledger import Record, Subject
from evidence.models import EntryKind, LogEntry, LogHead
from evidence.verify import canonical_json
from projects.models import Membership, Project, Role
from projects.permissions import Action, require
from projects.services import SystemActor, keep_an_admin, require_system

PLACEMENT_FIELDS = ("role", "team", "org_unit")


@dataclass(frozen=True)
class RecordedMembership:
    """A person's membership as the ledger recorded it at ``index`` (``role`` None: removed)."""

    index: int
    sha256: str  # the entry's subject digest: SHA-256 of the recorded state
    leaf_hash: str  # hex; names the entry itself in the Merkle tree
    user_id: int
    username: str
    role: str | None
    team: str
    org_unit: str

    def citation(self) -> dict:
        """How an approval cites this entry in its own predicate."""
        return {"index": self.index, "sha256": self.sha256, "leafHash": self.leaf_hash}


def _state(member, role: str | None, team: str, org_unit: str) -> dict:
    return {
        "member": member.username,
        "memberId": member.pk,
        "role": role,
        "team": team,
        "orgUnit": org_unit,
    }


def _record(project: Project, *, actor, member, state: dict, action: str, changed=()) -> None:
    digest = hashlib.sha256(canonical_json(state)).hexdigest()
    predicate = {
        "action": action,
        **state,
        "changed": sorted(changed),
        "changedBy": getattr(actor, "username", None),
    }
    subject = Subject(f"membership:{member.username}", digest)
    ledger.append(project, [Record(EntryKind.MEMBERSHIP, [subject], predicate)], user=actor)


def _refuse_self(user, member, project: Project) -> None:
    if user.pk == member.pk:
        raise PermissionDenied(
            f"Nobody changes their own membership: ask another administrator of {project.key}."
        )


def _validated(membership: Membership) -> None:
    membership.full_clean(exclude=["project", "user"], validate_unique=False)


# --- The services --------------------------------------------------------------------------


@transaction.atomic
def project_create(*, user, key: str, name: str, description: str = "") -> Project:
    """Create a project; its creator becomes the first administrator. Staff only.

    The creator's membership is recorded as the log's first entry (role only: a team or an
    organisational unit is set later by another administrator, never by the creator).
    """
    if not (user.is_staff or user.is_superuser):
        raise PermissionDenied("Only staff users may create projects.")
    project = Project(key=key, name=name, description=description)
    project.full_clean()
    project.save()
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    _record(
        project,
        actor=user,
        member=user,
        state=_state(user, Role.ADMIN, "", ""),
        action="create-project",
        changed=PLACEMENT_FIELDS,
    )
    return project


@transaction.atomic
def membership_add(
    *, user, project: Project, member, role: str, team: str = "", org_unit: str = ""
) -> Membership:
    """Add ``member`` to ``project``; refused when they are already a member."""
    require(user, project, Action.MANAGE)
    _refuse_self(user, member, project)
    if Membership.objects.filter(project=project, user=member).exists():
        raise ValidationError(
            {
                "username": ValidationError(
                    f"{member.username} is already a member of {project.key}.", code="unique"
                )
            }
        )
    membership = Membership(project=project, user=member, role=role, team=team, org_unit=org_unit)
    _validated(membership)
    membership.save()
    _record(
        project,
        actor=user,
        member=member,
        state=_state(member, role, team, org_unit),
        action="add",
        changed=PLACEMENT_FIELDS,
    )
    return membership


@transaction.atomic
def membership_update(*, user, project: Project, membership: Membership, **fields) -> Membership:
    """Change some of a member's role, team and organisational unit; fields not given stay.

    A call that changes nothing writes nothing. Refused on one's own membership and when the
    project would be left without an administrator.
    """
    require(user, project, Action.MANAGE)
    if membership.project_id != project.pk:
        raise ValidationError("The membership belongs to another project.")
    unknown = set(fields) - set(PLACEMENT_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    _refuse_self(user, membership.user, project)
    changed = [name for name, value in fields.items() if getattr(membership, name) != value]
    if not changed:
        return membership
    was_admin = membership.role == Role.ADMIN
    for name in changed:
        setattr(membership, name, fields[name])
    _validated(membership)
    if was_admin and membership.role != Role.ADMIN:
        keep_an_admin(project, without=membership)
    membership.save(update_fields=changed)
    _record(
        project,
        actor=user,
        member=membership.user,
        state=_state(membership.user, membership.role, membership.team, membership.org_unit),
        action="change",
        changed=changed,
    )
    return membership


@transaction.atomic
def membership_remove(*, user, project: Project, membership: Membership) -> None:
    require(user, project, Action.MANAGE)
    if membership.project_id != project.pk:
        raise ValidationError("The membership belongs to another project.")
    _refuse_self(user, membership.user, project)
    keep_an_admin(project, without=membership)
    Membership.objects.filter(pk=membership.pk).delete()
    _record(
        project,
        actor=user,
        member=membership.user,
        state=_state(membership.user, None, "", ""),
        action="remove",
        changed=PLACEMENT_FIELDS,
    )


@transaction.atomic
def membership_seed(
    *, project: Project, member, role: str, team: str = "", org_unit: str = ""
) -> Membership:
    """The operator's bootstrap: set a membership with no acting user, and record it.

    For the demo seed and an installation's first set-up, run from the command line by someone
    who already holds the signing key; never reachable from the web. The entry says so
    (``changedBy`` null, action ``seed``). A membership already recorded as it is stays as it is.
    """
    membership = Membership.objects.filter(project=project, user=member).first()
    if membership is None:
        membership = Membership(project=project, user=member)
    was_admin = membership.role == Role.ADMIN
    membership.role, membership.team, membership.org_unit = role, team, org_unit
    _validated(membership)
    recorded = recorded_placements(project, [member]).get(member.pk)
    if recorded and (recorded.role, recorded.team, recorded.org_unit) == (role, team, org_unit):
        membership.save()
        return membership
    if was_admin and role != Role.ADMIN:
        keep_an_admin(project, without=membership)
    membership.save()
    _record(
        project,
        actor=None,
        member=member,
        state=_state(member, role, team, org_unit),
        action="seed",
        changed=PLACEMENT_FIELDS,
    )
    return membership


@transaction.atomic
def membership_from_provider(*, actor: SystemActor, project: Project, member, role: str | None):
    """Set ``member``'s role in ``project`` to the one the single sign-on provider's groups give
    (None: remove them), at their login, and record it (action ``sso``, no acting user: the
    installation applies the mapping its operator configured). Team and organisational unit
    stay as they are. Refused, changing nothing, when it would leave no administrator."""
    require_system(actor)
    membership = Membership.objects.select_for_update().filter(project=project, user=member).first()
    if membership is None and role is None:
        return None
    current = membership or Membership(project=project, user=member)
    if membership is not None and membership.role == role:
        return membership
    if membership is not None and membership.role == Role.ADMIN:
        keep_an_admin(project, without=membership)
    if role is None:
        Membership.objects.filter(pk=membership.pk).delete()
        state = _state(member, None, "", "")
    else:
        current.role = role
        _validated(current)
        current.save()
        state = _state(member, role, current.team, current.org_unit)
    _record(project, actor=None, member=member, state=state, action="sso", changed=("role",))
    return None if role is None else current


@transaction.atomic
def project_bootstrap(
    *,
    actor: SystemActor,
    key: str,
    name: str,
    description: str,
    admin,
    members: list[tuple],
) -> tuple[Project, list[str]]:
    """The operator's bootstrap of a project: create it when missing (``admin``, a staff user,
    becomes its creator) and seed each ``(user, role, team, org_unit)`` of ``members`` through
    :func:`membership_seed`. Idempotent; returns the project and what it created."""
    require_system(actor)
    created = []
    project = Project.objects.filter(key=key).first()
    if project is None:
        project = project_create(user=admin, key=key, name=name, description=description)
        created.append(f"project {key}")
    for member, role, team, org_unit in members:
        made = not Membership.objects.filter(project=project, user=member).exists()
        membership_seed(project=project, member=member, role=role, team=team, org_unit=org_unit)
        if made:
            created.append(f"membership {member.username} as {role}")
    return project, created


@dataclass
class Reconciliation:
    recorded: list[str]  # usernames whose membership had no entry and now has one
    differing: list[str]  # "who: row role/team/unit vs ledger ..." -- left as they are


@transaction.atomic
def memberships_record_existing(*, project: Project) -> Reconciliation:
    """The operator's path for memberships made before they were ledgered: record each one
    that has no entry, as it stands (action ``record-existing``, no acting user).

    A membership whose row differs from its latest entry is not recorded: the row was changed
    outside the services, and the ledger's version is the one approvals use. It is reported so
    that an administrator can make the change properly, through the services.
    """
    lock_log(project)
    rows = list(Membership.objects.filter(project=project).select_related("user"))
    recorded = recorded_placements(project, [m.user for m in rows])
    result = Reconciliation(recorded=[], differing=[])
    for membership in rows:
        entry = recorded.get(membership.user_id)
        row = (membership.role, membership.team, membership.org_unit)
        if entry is None:
            _record(
                project,
                actor=None,
                member=membership.user,
                state=_state(membership.user, *row),
                action="record-existing",
                changed=PLACEMENT_FIELDS,
            )
            result.recorded.append(membership.user.username)
        elif (entry.role, entry.team, entry.org_unit) != row:
            result.differing.append(
                f"{membership.user.username}: row {'/'.join(row)} vs entry {entry.index} "
                f"{'/'.join(x or '' for x in (entry.role, entry.team, entry.org_unit))}"
            )
    return result


# --- Reading the recorded memberships --------------------------------------------------------


def lock_log(project: Project) -> None:
    """Hold the project's log until the transaction ends, so that what is read from the log
    stays the latest until the caller's own entry is appended (no membership change between)."""
    LogHead.objects.select_for_update().filter(project=project).first()


def recorded_placements(
    project: Project, users, *, before: int | None = None
) -> dict[int, RecordedMembership]:
    """The latest membership entry of each of ``users`` in ``project``'s log, by user id.

    Only entries below index ``before`` count when it is given. A user without one (a
    membership made before memberships were ledgered, or a superuser who was never a member) is
    absent from the result: their placement is unknown.
    """
    wanted = {u.pk for u in users if u is not None}
    entries = LogEntry.objects.filter(project=project, kind=EntryKind.MEMBERSHIP)
    if before is not None:
        entries = entries.filter(index__lt=before)
    found: dict[int, RecordedMembership] = {}
    rows = entries.order_by("-index").values_list("index", "digest", "leaf_hash", "envelope")
    for index, digest, leaf, envelope in rows.iterator():
        if len(found) == len(wanted):
            break
        predicate = _predicate(bytes(envelope))
        user_id = predicate.get("memberId")
        if user_id not in wanted or user_id in found:
            continue
        found[user_id] = RecordedMembership(
            index=index,
            sha256=digest,
            leaf_hash=bytes(leaf).hex(),
            user_id=user_id,
            username=predicate.get("member") or "",
            role=predicate.get("role"),
            team=predicate.get("team") or "",
            org_unit=predicate.get("orgUnit") or "",
        )
    return found


def _predicate(envelope: bytes) -> dict:
    """The signed statement's predicate of an entry (the envelope is the evidence)."""
    statement = json.loads(base64.b64decode(json.loads(envelope)["payload"]))
    predicate = statement.get("predicate")
    return predicate if isinstance(predicate, dict) else {}
