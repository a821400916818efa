"""Local repositories: the history of a clone, read with ``git log``.

``git`` runs with a fixed argument list and no shell, only at the repository's own folder, with
no terminal prompt and no optional locks; a revision that git could read as an option is
refused.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from compliance.commits.records import Commit, parse_date, public_url

__all__ = ["GIT_TIMEOUT_SECONDS", "GitError", "check_rev", "read_history"]

GIT_TIMEOUT_SECONDS = 600


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
                authored_at=parse_date(date),
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
