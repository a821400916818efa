"""Every write of commit linking: the links, their ledger entries, stale evidence, deliveries.

Two kinds of caller, each checked before anything is written:

* a person, through :func:`link_commits` and :func:`link_repository` (``manage.py
  link_commits``), who needs the EDIT role in the project;
* a Git hosting service, through :func:`push_record`, as the :class:`WebhookSender` that
  :mod:`compliance.commits.webhooks` makes once the delivery has proven itself with the
  project's shared secret. There is no user: the ledger records its links with no acting user.

A new link is a :class:`~compliance.models.CommitLink` row and a ``commit-link`` ledger entry,
appended in the same transaction; the verifications that the linked commits make stale are
marked in it too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from compliance.commits.git import read_history
from compliance.commits.records import Commit, LinkResult, WebhookOutcome, iso
from compliance.models import CommitLink, CommitLinkKind, Requirement, Verification, WebhookDelivery
from evidence import ledger
from evidence.ledger import Record, Subject
from evidence.models import EntryKind
from projects.models import Project
from projects.permissions import Action, require

__all__ = ["WebhookSender", "link_commits", "link_repository", "push_record", "require_sender"]


@transaction.atomic
def link_commits(*, user, project: Project, commits: Sequence[Commit], repository: str):
    """Link ``commits`` (already read) on behalf of ``user``, who needs the EDIT role."""
    require(user, project, Action.EDIT)
    return _link(project, commits, repository, user=user, source="git")


def link_repository(*, user, project: Project, path, rev: str = "HEAD") -> LinkResult:
    """Read ``rev`` of the repository at ``path`` and link its commits (``link_commits``).

    The role is checked before git runs; git errors raise
    :class:`~compliance.commits.git.GitError` before anything is written.
    """
    require(user, project, Action.EDIT)
    repository, commits = read_history(path, rev)
    return link_commits(user=user, project=project, commits=commits, repository=repository)


@dataclass(frozen=True)
class WebhookSender:
    """The actor of a push delivery: ``project``'s Git hosting service (``provider`` "github" or
    "gitlab"), which proved itself with the project's webhook secret.

    Only :mod:`compliance.commits.webhooks` makes one, after the signature or token check.
    """

    project: Project
    provider: str


def require_sender(sender, project: Project) -> None:
    """Refuse anything but a delivery authenticated for ``project`` (a person included)."""
    if not isinstance(sender, WebhookSender) or sender.project.pk != project.pk:
        raise PermissionDenied(
            f"Only a delivery authenticated by the webhook secret of {project.key} may do this."
        )


def push_record(
    *,
    sender: WebhookSender,
    project: Project,
    delivery_id: str,
    commits: Sequence[Commit],
    repository: str,
) -> WebhookOutcome:
    """Link the commits of an authenticated push, once per delivery id.

    ``sender`` is the :class:`WebhookSender` the signature or token check made; anything else
    (a person, another project's sender) is refused before anything is written. There is no
    user, so the ledger records the links with no acting user (``recordedBy`` null). A delivery
    id seen before is answered as a duplicate and links nothing.
    """
    require_sender(sender, project)
    provider = sender.provider
    try:
        with transaction.atomic():
            Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
            seen = WebhookDelivery.objects.filter(
                project=project, provider=provider, delivery_id=delivery_id
            ).first()
            if seen is not None:
                return WebhookOutcome(
                    "duplicate",
                    f"Delivery {delivery_id} was processed at {iso(seen.received_at)}.",
                    LinkResult(commits=seen.commits, links=seen.links, repository=repository),
                )
            result = _link(project, commits, repository, user=None, source=provider)
            WebhookDelivery.objects.create(
                project=project,
                provider=provider,
                delivery_id=delivery_id,
                commits=result.commits,
                links=result.links,
            )
    except IntegrityError:
        return WebhookOutcome("duplicate", f"Delivery {delivery_id} is being processed.")
    return WebhookOutcome("processed", result=result)


def _chunks(items: Sequence, size: int = 500) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _link(project: Project, commits: Sequence[Commit], repository: str, *, user, source: str):
    """Create the missing links of ``commits`` and their ledger entries (one batch).

    Runs inside the caller's transaction, with the project row locked so that two runs over
    the same commits queue rather than collide on the unique constraint.
    """
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    result = LinkResult(commits=len(commits), repository=repository)
    referring = [c for c in commits if c.refs]
    codes = sorted({code for c in referring for _, code in c.refs})
    requirements = {r.code: r for r in Requirement.objects.filter(project=project, code__in=codes)}
    result.unknown_ids = [code for code in codes if code not in requirements]
    existing: set[tuple[str, int, str]] = set()
    for chunk in _chunks(sorted({c.sha for c in referring})):
        existing.update(
            CommitLink.objects.filter(project=project, commit__in=chunk).values_list(
                "commit", "requirement_id", "kind"
            )
        )
    new: list[tuple[Commit, str, Requirement]] = []
    for commit in referring:
        for kind, code in commit.refs:
            requirement = requirements.get(code)
            key = (commit.sha, requirement.pk if requirement else None, kind)
            if requirement is None or key in existing:
                continue
            existing.add(key)
            new.append((commit, kind, requirement))
    if not new:
        return result
    records = [
        Record(
            EntryKind.COMMIT_LINK,
            [Subject(f"commit:{commit.sha}", commit.digest())],
            {
                "commit": commit.sha,
                "tree": commit.tree,
                "author": commit.author,
                "authoredAt": iso(commit.authored_at),
                "requirement": requirement.code,
                "requirementVersion": requirement.version,
                "trailer": kind,
                "repository": repository,
                "source": source,
            },
        )
        for commit, kind, requirement in new
    ]
    entries = ledger.append(project, records, user=user)
    CommitLink.objects.bulk_create(
        [
            CommitLink(
                project=project,
                requirement=requirement,
                kind=kind,
                commit=commit.sha,
                tree=commit.tree,
                repository=repository[:500],
                author=commit.author[:300],
                authored_at=commit.authored_at,
                subject=commit.subject[:500],
                files=list(commit.files),
                entry=entry,
            )
            for (commit, kind, requirement), entry in zip(new, entries, strict=True)
        ]
    )
    result.links = len(new)
    linked = list({commit.sha: commit for commit, _, _ in new}.values())
    result.stale_verifications = _mark_stale_evidence(project, linked)
    return result


def _mark_stale_evidence(project: Project, commits: Sequence[Commit]) -> int:
    """Stale the verifications a code change invalidates.

    For each newly linked commit C and each file it changes: every requirement with an earlier
    ``Implements:`` commit that touched the same file has its verification rows recorded before
    C (by C's author date) marked stale, naming C and the file.
    """
    dated = sorted((c for c in commits if c.authored_at and c.files), key=lambda c: c.authored_at)
    if not dated:
        return 0
    implementing = CommitLink.objects.filter(
        project=project,
        kind=CommitLinkKind.IMPLEMENTS,
        authored_at__lt=dated[-1].authored_at,
    ).select_related("requirement")
    by_file: dict[str, list[CommitLink]] = defaultdict(list)
    for link in implementing:
        for path in link.files or ():
            by_file[path].append(link)
    marked = 0
    for commit in dated:
        reasons: dict[int, str] = {}
        for path in commit.files:
            for link in by_file.get(path, ()):
                if link.commit == commit.sha or link.authored_at >= commit.authored_at:
                    continue
                reasons.setdefault(
                    link.requirement_id,
                    f"commit {commit.sha[:12]} changed {path}, which {link.commit[:12]} "
                    f"(Implements: {link.requirement.code}) touched",
                )
        for requirement_id, reason in reasons.items():
            marked += Verification.objects.filter(
                requirement_id=requirement_id,
                stale=False,
                recorded_at__lt=commit.authored_at,
            ).update(stale=True, stale_reason=reason[:300])
    return marked
