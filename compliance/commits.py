"""Git commits that name requirements in their trailers, linked into the safety case.

A commit message such as::

    Clamp the brake request to the actuator limit

    Implements: FSR-012
    Verifies: TSR-003, TSR-004

links the commit to those requirements. Commits arrive two ways: ``manage.py link_commits``
reads a local clone with ``git log`` (:func:`link_repository`, role-checked like every other
write), and the Git hosting webhooks push them (:func:`receive_github_push`,
:func:`receive_gitlab_push`, authenticated by the project's shared secret instead of a user).

Every new link is a :class:`~compliance.models.CommitLink` row and a ``commit-link`` ledger
entry whose subject is ``commit:<sha>`` with the SHA-256 of the commit's canonical facts; the
entries of one run are appended in one batch. Linking is idempotent: a commit, requirement and
trailer kind already linked is skipped. When a newly linked commit changes a file that an
earlier ``Implements:`` commit of a requirement touched, the verification evidence of that
requirement recorded before the new commit turns stale.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from django.db import IntegrityError, transaction

from compliance.models import (
    CommitLink,
    CommitLinkKind,
    Requirement,
    Verification,
    WebhookDelivery,
    code_validator,
)
from evidence import ledger
from evidence.ledger import Record, Subject
from evidence.models import EntryKind
from evidence.verify import canonical_json
from projects import jsonbody
from projects.models import Project
from projects.permissions import Action, require

TRAILER_KINDS = {
    "implements": CommitLinkKind.IMPLEMENTS,
    "verifies": CommitLinkKind.VERIFIES,
    "refs": CommitLinkKind.REFS,
}
MAX_WEBHOOK_BYTES = 5 * 1024 * 1024
GIT_TIMEOUT_SECONDS = 600

# --- Trailers, the way git reads them (trailer.c) -----------------------------------------------

_COMMENT = "#"
_SEPARATORS = ":"
_GIT_GENERATED_PREFIXES = ("Signed-off-by: ", "(cherry picked from commit ")
_C_SPACE = " \t\n\v\f\r"


def _is_blank(line: str) -> bool:
    return not line.strip(_C_SPACE)


def _is_token_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "-")


def _find_separator(line: str) -> int:
    """Where the ``:`` of ``<token><optional blanks>:`` is, or -1 when the line is not so."""
    whitespace_found = False
    for position, char in enumerate(line):
        if char in _SEPARATORS:
            return position
        if not whitespace_found and _is_token_char(char):
            continue
        if position and char in " \t":
            whitespace_found = True
            continue
        break
    return -1


def _ignored_tail(lines: list[str]) -> int:
    """Index where the trailing comments, empty lines and old "Conflicts:" block begin."""
    start, in_conflicts = None, False
    for index, line in enumerate(lines):
        if line.startswith(_COMMENT) or line == "":
            start = index if start is None else start
        elif line == "Conflicts:":
            in_conflicts = True
            start = index if start is None else start
        elif in_conflicts and line.startswith("\t"):
            pass
        elif start is not None:
            start, in_conflicts = None, False
    return len(lines) if start is None else start


def _trailer_block_start(lines: list[str]) -> int | None:
    """The index of the first line of the trailer block, or None when there is none.

    The block is the last paragraph, never the title paragraph, and counts as trailers when
    all its lines are trailers (or their continuations), or when it holds a git-generated
    trailer (``Signed-off-by:``) and at least a quarter of its lines are trailers.
    """
    end_of_title = len(lines)
    for index, line in enumerate(lines):
        if line.startswith(_COMMENT):
            continue
        if _is_blank(line):
            end_of_title = index
            break
    only_spaces, recognized = True, False
    trailers = non_trailers = continuations = 0
    for index in range(len(lines) - 1, end_of_title - 1, -1):
        line = lines[index]
        if line.startswith(_COMMENT):
            non_trailers += continuations
            continuations = 0
            continue
        if _is_blank(line):
            if only_spaces:
                continue
            non_trailers += continuations
            if (recognized and trailers * 3 >= non_trailers) or (trailers and not non_trailers):
                return index + 1
            return None
        only_spaces = False
        if line.startswith(_GIT_GENERATED_PREFIXES):
            trailers += 1
            continuations = 0
            recognized = True
        elif _find_separator(line) >= 1 and line[0] not in _C_SPACE:
            trailers += 1
            continuations = 0
        elif line[0] in _C_SPACE:
            continuations += 1
        else:
            non_trailers += 1 + continuations
            continuations = 0
    return None


def _unfold(value: str) -> str:
    return re.sub(r"\n[ \t\n\v\f\r]*", " ", value).strip(_C_SPACE)


def parse_trailers(message: str) -> list[tuple[str, str]]:
    """The ``(key, value)`` trailers of a commit message, in order, continuations unfolded.

    Follows ``git interpret-trailers --parse --no-divider`` (and ``%(trailers)`` of
    ``git log``) with the default configuration: separator ``:``, comment character ``#``.
    """
    lines = message.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = lines[: _ignored_tail(lines)]
    start = _trailer_block_start(lines)
    if start is None:
        return []
    items: list[str] = []
    last_is_trailer = False
    for line in lines[start:]:
        if last_is_trailer and line[:1] and line[0] in _C_SPACE:
            items[-1] += "\n" + line
            continue
        items.append(line)
        last_is_trailer = _find_separator(line) >= 1
    result = []
    for item in items:
        if item.startswith(_COMMENT):
            continue
        separator = _find_separator(item)
        if separator >= 1:
            result.append((item[:separator].strip(_C_SPACE), _unfold(item[separator + 1 :])))
    return result


_ID_SPLIT = re.compile(r"[,\s]+")


def requirement_refs(message: str) -> list[tuple[str, str]]:
    """``(link kind, requirement code)`` pairs named by the Implements/Verifies/Refs trailers.

    Values may list several ids separated by commas and/or blanks; words that do not look
    like a requirement code (``#123``, ``see``) are not ids and are left out.
    """
    refs: list[tuple[str, str]] = []
    for key, value in parse_trailers(message):
        kind = TRAILER_KINDS.get(key.lower())
        if kind is None:
            continue
        for word in _ID_SPLIT.split(value):
            code = word.strip(".;()[]")
            if code and re.fullmatch(code_validator.regex, code) and (kind, code) not in refs:
                refs.append((kind, code))
    return refs


# --- Commits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Commit:
    """What Safecase keeps of a commit, from ``git log`` or from a push payload."""

    sha: str
    tree: str
    author: str  # "Name <email>"
    authored_at: datetime | None
    message: str
    files: tuple[str, ...] = ()
    refs: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def build(cls, *, sha, tree, author, authored_at, message, files) -> Commit:
        return cls(
            sha=sha.lower(),
            tree=(tree or "").lower(),
            author=author,
            authored_at=authored_at,
            message=message,
            files=tuple(sorted(set(files))),
            refs=tuple(requirement_refs(message)),
        )

    @property
    def subject(self) -> str:
        return self.message.strip().split("\n", 1)[0].strip()

    def facts(self) -> dict:
        """The canonical facts of the commit; the ledger subject's digest is their SHA-256."""
        return {
            "commit": self.sha,
            "tree": self.tree,
            "author": self.author,
            "authoredAt": _iso(self.authored_at),
            "subject": self.subject,
            "files": list(self.files),
        }

    def digest(self) -> str:
        return hashlib.sha256(canonical_json(self.facts())).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_date(value) -> datetime | None:
    if value in (None, ""):
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def public_url(url: str) -> str:
    """A remote URL without the user name or token some clones keep in it."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


@dataclass
class LinkResult:
    commits: int = 0
    links: int = 0
    unknown_ids: list[str] = field(default_factory=list)
    stale_verifications: int = 0
    repository: str = ""

    def as_dict(self) -> dict:
        return {
            "commits": self.commits,
            "links": self.links,
            "unknown_ids": self.unknown_ids,
            "stale_verifications": self.stale_verifications,
            "repository": self.repository,
        }


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
                "authoredAt": _iso(commit.authored_at),
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


# --- Local repositories ------------------------------------------------------------------------


class GitError(Exception):
    """A repository or range git cannot read; the message is one line."""


_LOG_FORMAT = "/commit%x00%H%x00%T%x00%an%x00%ae%x00%aI%x00%B"
_MARK = "/commit"  # git paths are relative, so no changed file can be named "/commit"


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C", GIT_OPTIONAL_LOCKS="0")
    return env


def _git(path: Path, *args: str, ceiling: bool = True) -> subprocess.CompletedProcess:
    env = _git_env()
    if ceiling:
        # Look for the repository at PATH only, never in a folder above it.
        env["GIT_CEILING_DIRECTORIES"] = str(path.parent)
    command = ["git", "--no-pager", "-c", "log.showSignature=false", "-C", str(path), *args]
    try:
        return subprocess.run(
            command, capture_output=True, env=env, timeout=GIT_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed (or not on PATH)") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS} s") from exc


def _first_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[0].strip() if lines else "unknown error"


def check_rev(rev: str) -> str:
    """A revision or range for ``git log``; refuses anything git could read as an option."""
    if not rev or rev.startswith("-") or "\x00" in rev or rev != rev.strip():
        raise GitError(f"not a revision or range: {rev!r} (it must not start with '-')")
    return rev


def _parse_log(output: bytes) -> list[Commit]:
    tokens = output.decode("utf-8", "replace").split("\x00")
    commits, index = [], 0
    while index < len(tokens):
        if tokens[index] != _MARK:
            index += 1
            continue
        sha, tree, name, email, date, message = tokens[index + 1 : index + 7]
        index += 7
        files = []
        while index < len(tokens) and tokens[index] != _MARK:
            name_ = tokens[index]
            if not files and name_.startswith("\n"):
                name_ = name_[1:]
            if name_:
                files.append(name_)
            index += 1
        commits.append(
            Commit.build(
                sha=sha,
                tree=tree,
                author=f"{name} <{email}>",
                authored_at=_parse_date(date),
                message=message,
                files=files,
            )
        )
    return commits


def read_history(path: str | os.PathLike, rev: str = "HEAD") -> tuple[str, list[Commit]]:
    """The repository's name (its origin URL, else its path) and the commits of ``rev``.

    ``git`` runs with a fixed argument list and no shell; ``rev`` comes after
    ``--end-of-options`` and may not start with ``-``.
    """
    rev = check_rev(rev)
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise GitError(f"{path} is not a folder")
    probe = _git(folder, "rev-parse", "--git-dir")
    if probe.returncode != 0:
        raise GitError(f"{path} is not a git repository")
    log = _git(
        folder,
        "log",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
        "-z",
        "--name-only",
        f"--format={_LOG_FORMAT}",
        "--end-of-options",
        rev,
        "--",
    )
    if log.returncode != 0:
        raise GitError(f"git log {rev}: {_first_line(log.stderr)}")
    remote = _git(folder, "config", "--get", "remote.origin.url")
    origin = remote.stdout.decode("utf-8", "replace").strip() if remote.returncode == 0 else ""
    return (public_url(origin) if origin else str(folder)), _parse_log(log.stdout)


@transaction.atomic
def link_commits(*, user, project: Project, commits: Sequence[Commit], repository: str):
    """Link ``commits`` (already read) on behalf of ``user``, who needs the EDIT role."""
    require(user, project, Action.EDIT)
    return _link(project, commits, repository, user=user, source="git")


def link_repository(*, user, project: Project, path, rev: str = "HEAD") -> LinkResult:
    """Read ``rev`` of the repository at ``path`` and link its commits (``link_commits``).

    The role is checked before git runs; git errors raise :class:`GitError` before anything
    is written.
    """
    require(user, project, Action.EDIT)
    repository, commits = read_history(path, rev)
    return link_commits(user=user, project=project, commits=commits, repository=repository)


# --- Webhooks ----------------------------------------------------------------------------------


class WebhookError(Exception):
    """A refused delivery; ``status`` is the HTTP status the endpoint answers with."""

    status = 400


class WebhookUnauthorized(WebhookError):
    status = 401


class WebhookTooLarge(WebhookError):
    status = 413


@dataclass
class WebhookOutcome:
    status: str  # "processed", "duplicate" or "ignored"
    detail: str = ""
    result: LinkResult | None = None

    def as_dict(self) -> dict:
        data = {"status": self.status}
        if self.detail:
            data["detail"] = self.detail
        if self.result is not None:
            data.update(self.result.as_dict())
        return data


# One answer for every authentication failure of an endpoint: an unknown project, a project
# with no secret and a wrong signature or token look the same from outside, so the endpoint
# tells nobody which project keys exist or which have webhooks set up.
UNAUTHORIZED = "Missing or wrong {header}."
# Compared against when there is no secret, so that every refusal does the same work.
_NO_SECRET = os.urandom(32)


def _secret(project: Project | None) -> bytes | None:
    if project is None or not project.webhook_secret:
        return None
    return project.webhook_secret.encode("utf-8")


def _authenticate(secret: bytes | None, expected: bytes, given: bytes, header: str) -> None:
    """Compare in constant time (digests of equal length), then refuse with one message."""
    same = hmac.compare_digest(hashlib.sha256(expected).digest(), hashlib.sha256(given).digest())
    if not (same and secret is not None and given):
        raise WebhookUnauthorized(UNAUTHORIZED.format(header=header))


def _header_bytes(value: str | None) -> bytes:
    return (value or "").encode("utf-8", "replace")


def _check_size(body: bytes) -> None:
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookTooLarge(f"The body is larger than {MAX_WEBHOOK_BYTES} bytes.")


def _json(body: bytes, form: bool = False) -> dict:
    try:
        text = body.decode("utf-8")
        if form:
            text = parse_qs(text).get("payload", [""])[0]
        payload = jsonbody.loads(text, max_bytes=MAX_WEBHOOK_BYTES)
    except UnicodeDecodeError as exc:
        raise WebhookError(f"The body is not valid JSON: {exc}") from exc
    except jsonbody.JSONRefused as exc:
        raise WebhookError(str(exc)) from None
    if not isinstance(payload, dict):
        raise WebhookError("The body must be a JSON object.")
    return payload


_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


def _strings(value, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WebhookError(f"{what} must be a list of paths.")
    return value


def _payload_commits(payload: dict) -> list[Commit]:
    """The commits of a GitHub or GitLab push payload (the two share these fields)."""
    raw = payload.get("commits") or []
    if not isinstance(raw, list):
        raise WebhookError("commits must be a list.")
    commits = []
    for position, item in enumerate(raw):
        where = f"commits[{position}]"
        if not isinstance(item, dict):
            raise WebhookError(f"{where} must be an object.")
        sha, tree = item.get("id"), item.get("tree_id") or ""
        if not isinstance(sha, str) or not _SHA.fullmatch(sha):
            raise WebhookError(f"{where}.id must be a commit id (40 or 64 hex digits).")
        if not isinstance(tree, str) or (tree and not _SHA.fullmatch(tree)):
            raise WebhookError(f"{where}.tree_id must be a tree id.")
        author = item.get("author") or {}
        if not isinstance(author, dict):
            raise WebhookError(f"{where}.author must be an object.")
        message = item.get("message") or ""
        if not isinstance(message, str):
            raise WebhookError(f"{where}.message must be a string.")
        try:
            authored_at = _parse_date(item.get("timestamp"))
        except (TypeError, ValueError) as exc:
            raise WebhookError(f"{where}.timestamp must be an ISO 8601 date.") from exc
        files = [
            *_strings(item.get("added"), f"{where}.added"),
            *_strings(item.get("removed"), f"{where}.removed"),
            *_strings(item.get("modified"), f"{where}.modified"),
        ]
        commits.append(
            Commit.build(
                sha=sha,
                tree=tree,
                author=f"{author.get('name') or ''} <{author.get('email') or ''}>",
                authored_at=authored_at,
                message=message,
                files=files,
            )
        )
    return commits


def _repository_url(payload: dict, *paths: tuple[str, str]) -> str:
    for outer, inner in paths:
        section = payload.get(outer)
        if isinstance(section, dict) and isinstance(section.get(inner), str):
            return public_url(section[inner])
    return ""


def _record_push(
    project: Project, provider: str, delivery_id: str, payload: dict, repository: str
) -> WebhookOutcome:
    """Link the commits of an authenticated push, once per delivery id.

    The caller has proven, with the project's shared secret, that the hosting service sent
    the delivery; there is no user, so the links are recorded by the system actor
    (``user=None`` in the ledger) and no role is checked. Only :func:`receive_github_push`
    and :func:`receive_gitlab_push` call this, after their signature or token check.
    """
    commits = _payload_commits(payload)
    try:
        with transaction.atomic():
            Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
            seen = WebhookDelivery.objects.filter(
                project=project, provider=provider, delivery_id=delivery_id
            ).first()
            if seen is not None:
                return WebhookOutcome(
                    "duplicate",
                    f"Delivery {delivery_id} was processed at {_iso(seen.received_at)}.",
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


def _delivery_id(value: str | None, header: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 200:
        raise WebhookError(f"The {header} header is missing or longer than 200 characters.")
    return value


def receive_github_push(
    *,
    project: Project | None,
    body: bytes,
    signature: str | None,
    event: str | None,
    delivery: str | None,
    content_type: str = "application/json",
) -> WebhookOutcome:
    """A GitHub delivery: ``X-Hub-Signature-256`` must be the HMAC-SHA256 of the raw body.

    ``project`` is None for an unknown key; that is refused like a wrong signature.
    """
    _check_size(body)
    secret = _secret(project)
    mac = hmac.new(secret or _NO_SECRET, body, hashlib.sha256).hexdigest()
    expected = b"sha256=" + mac.encode("ascii")
    _authenticate(secret, expected, _header_bytes(signature).strip(), "X-Hub-Signature-256")
    if (event or "").strip() != "push":
        return WebhookOutcome("ignored", f"GitHub event {event!r} is not a push.")
    delivery_id = _delivery_id(delivery, "X-GitHub-Delivery")
    form = (content_type or "").startswith("application/x-www-form-urlencoded")
    payload = _json(body, form=form)
    repository = _repository_url(payload, ("repository", "html_url"), ("repository", "url"))
    return _record_push(project, "github", delivery_id, payload, repository)


def receive_gitlab_push(
    *,
    project: Project | None,
    body: bytes,
    token: str | None,
    event: str | None,
    delivery: str | None,
) -> WebhookOutcome:
    """A GitLab delivery: ``X-Gitlab-Token`` must equal the project's secret (refused like a
    wrong token when ``project`` is None or has no secret)."""
    _check_size(body)
    secret = _secret(project)
    _authenticate(secret, secret or _NO_SECRET, _header_bytes(token), "X-Gitlab-Token")
    if (event or "").strip() != "Push Hook":
        return WebhookOutcome("ignored", f"GitLab event {event!r} is not a push.")
    delivery_id = _delivery_id(delivery, "Idempotency-Key or X-Gitlab-Event-UUID")
    payload = _json(body)
    repository = _repository_url(payload, ("project", "web_url"), ("repository", "homepage"))
    return _record_push(project, "gitlab", delivery_id, payload, repository)
