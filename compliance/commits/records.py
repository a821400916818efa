"""What Safecase keeps of a commit, and what linking commits returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from compliance.commits.trailers import requirement_refs
from evidence.verify import canonical_json

__all__ = ["Commit", "LinkResult", "WebhookOutcome", "iso", "parse_date", "public_url"]


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
            "authoredAt": iso(self.authored_at),
            "subject": self.subject,
            "files": list(self.files),
        }

    def digest(self) -> str:
        return hashlib.sha256(canonical_json(self.facts())).hexdigest()


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_date(value) -> datetime | None:
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
    """What one run of linking did: commits read, links made, codes that name no requirement,
    verifications made stale."""

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


@dataclass
class WebhookOutcome:
    """How a delivery was answered, with what its commits linked when it was processed."""

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
