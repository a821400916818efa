"""Trailers, the way git reads them (``trailer.c``), and the requirement codes they name."""

from __future__ import annotations

import re

from compliance.models import CommitLinkKind, code_validator

__all__ = ["TRAILER_KINDS", "parse_trailers", "requirement_refs"]

TRAILER_KINDS = {
    "implements": CommitLinkKind.IMPLEMENTS,
    "verifies": CommitLinkKind.VERIFIES,
    "refs": CommitLinkKind.REFS,
}

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
