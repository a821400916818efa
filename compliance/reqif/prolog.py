"""Safety checks before parsing: the prolog of an untrusted document, scanned as bytes.

A document whose prolog contains a ``<!DOCTYPE`` (or any other ``<!`` markup declaration) is
refused before the XML parser sees it: ReqIF never needs a DTD, and DTDs are how entity
expansion ("billion laughs") and external entities (XXE, ``file://`` or ``http://`` fetches) get
in. So is a declared encoding other than UTF-8, ASCII, ISO 8859-1 or -15 or Windows-1252
(UTF-16 and UTF-32 are recognised by their byte order), and a root element other than
``REQ-IF``, before a large file that is not ReqIF costs a parse.
"""

from __future__ import annotations

import codecs
import re

from compliance.reqif.document import ReqIFError

__all__ = ["check_prolog"]

_ASCII_COMPATIBLE_ENCODINGS = frozenset(
    (
        "utf-8 utf8 us-ascii ascii iso-8859-1 iso8859-1 latin-1 latin1 iso-8859-15 "
        "windows-1252 cp1252"
    ).split()
)
_ROOT_NAME = re.compile(rb"[^\s/>]+")
_BLANKS = re.compile(rb"[ \t\r\n]*")
# A real prolog has an XML declaration and perhaps a comment or two; a file of millions of
# empty comments is refused before its scan costs seconds.
_MAX_PROLOG_ITEMS = 1000
# A UTF-16 or UTF-32 document's prolog is decoded from this many bytes at most.
_PROLOG_WINDOW = 1 << 20
_ENCODING_DECL = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _detect_wide_encoding(data: bytes) -> str | None:
    """Return the codec for UTF-16/32 input (by BOM or NUL pattern), else None."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if data.startswith(b"\x00\x00\x00<"):
        return "utf-32-be"
    if data.startswith(b"<\x00\x00\x00"):
        return "utf-32-le"
    if data.startswith(b"\x00<"):
        return "utf-16-be"
    if data.startswith(b"<\x00"):
        return "utf-16-le"
    return None


def check_prolog(data: bytes | bytearray) -> None:
    """Refuse DTDs, unsupported encodings and non-ReqIF roots by scanning the prolog.

    A DOCTYPE (and with it every ENTITY declaration) may only appear in the prolog, so the
    scan is exact: XML declaration, processing instructions, comments and whitespace are
    skipped; any ``<!`` declaration is refused; scanning stops at the root element, whose
    name must be ``REQ-IF`` (so a large non-ReqIF file is refused before it is parsed).
    """
    wide = _detect_wide_encoding(data)
    cut = False
    if wide is not None:
        # Only the prolog is scanned, so only its window is decoded (never the whole file).
        cut = len(data) > _PROLOG_WINDOW
        decoder = codecs.getincrementaldecoder(wide)()
        try:
            text = decoder.decode(bytes(data[:_PROLOG_WINDOW]), final=not cut)
        except UnicodeDecodeError:
            raise ReqIFError(f"the document is not valid {wide.upper()}") from None
        data = text.lstrip("\ufeff").encode("utf-8")
        allowed = None
        start = 0
    else:
        allowed = _ASCII_COMPATIBLE_ENCODINGS
        start = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # no slice: no copy
    pos = start
    size = len(data)
    for _item in range(_MAX_PROLOG_ITEMS):
        pos = _BLANKS.match(data, pos).end()  # at C speed: a file of blanks is no slow loop
        if pos >= size:
            if cut:
                raise ReqIFError("refused: no root element in the first 1 MiB of the document")
            raise ReqIFError("the document is empty: no root element")
        if data.startswith(b"<?", pos):
            end = data.find(b"?>", pos + 2)
            if end < 0:
                raise ReqIFError("malformed XML: unterminated processing instruction")
            if pos == start and data.startswith(b"<?xml", pos):
                match = _ENCODING_DECL.search(data, pos, end)
                if match and allowed is not None:
                    declared = match.group(1).decode("ascii").lower()
                    if declared not in allowed:
                        raise ReqIFError(
                            f"unsupported document encoding {declared!r}: ReqIF documents are UTF-8"
                        )
            pos = end + 2
        elif data.startswith(b"<!--", pos):
            end = data.find(b"-->", pos + 4)
            if end < 0:
                raise ReqIFError("malformed XML: unterminated comment")
            pos = end + 3
        elif data.startswith(b"<!", pos):
            what = "a DOCTYPE" if data.startswith(b"<!DOCTYPE", pos) else "a markup declaration"
            raise ReqIFError(
                f"refused: the document contains {what} (<!DOCTYPE ...>). ReqIF never needs "
                "one, and DTDs carry entity-expansion (billion laughs) and external-entity "
                "(XXE) attacks; DOCTYPE and ENTITY declarations are not accepted"
            )
        elif data.startswith(b"<", pos):
            match = _ROOT_NAME.match(data, pos + 1)
            name = match.group(0).decode("utf-8", "replace") if match else ""
            if name.rpartition(":")[2] != "REQ-IF":
                raise ReqIFError(
                    f"not a ReqIF document: the root element is <{name}>, not <REQ-IF>"
                )
            return
        else:
            raise ReqIFError("malformed XML: text before the root element")
    raise ReqIFError(
        f"refused: more than {_MAX_PROLOG_ITEMS} comments and processing instructions before "
        "the root element"
    )
