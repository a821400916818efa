"""XHTML sanitising: the rich text of ``ATTRIBUTE-VALUE-XHTML``, reduced to a safe subset.

Used by the reader for every XHTML value and by the writer before it writes rich text back.
"""

from __future__ import annotations

import re

from lxml import etree
from lxml import html as lxml_html

from compliance import xmlsafe
from compliance.reqif.document import XHTML_NS, ReqIFError

__all__ = ["FRAGMENT_PARSER", "INVALID_XML_CHARS", "local", "sanitize_element", "sanitize_xhtml"]

# Kept (without any attribute). All are part of the XHTML subset the ReqIF schema allows.
_ALLOWED_TAGS = frozenset(
    (
        "p br b i em strong ul ol li dl dt dd table caption thead tbody tfoot tr td th "
        "span div sub sup pre code blockquote h1 h2 h3 h4 h5 h6"
    ).split()
)
# Removed together with everything inside them.
_DROPPED_TAGS = frozenset(
    (
        "script style object embed applet iframe frame frameset noscript template svg "
        "math head title meta link base form input button select textarea img param"
    ).split()
)
# Everything else (a, font, u, ins, ...) is unwrapped: the tag goes, its text stays.

_BLOCK_TAGS = frozenset(
    (
        "p div ul ol li dl dt dd table caption thead tbody tfoot tr pre blockquote h1 h2 "
        "h3 h4 h5 h6"
    ).split()
)
_VOID_TAGS = frozenset({"br"})

INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def local(tag: str) -> str:
    """A tag without its ``{namespace}``."""
    return tag[tag.find("}") + 1 :]


def _append_text(dst: etree._Element, text: str | None) -> None:
    if not text:
        return
    if len(dst):
        last = dst[-1]
        last.tail = (last.tail or "") + text
    else:
        dst.text = (dst.text or "") + text


def _copy_clean(src: etree._Element, dst: etree._Element) -> None:
    """Copy ``src``'s content into ``dst`` keeping only whitelisted, attribute-free tags."""
    _append_text(dst, src.text)
    for child in src:
        tag = child.tag
        if isinstance(tag, str):
            name = local(tag).lower()
            if ":" in name:  # a prefixed tag read by the HTML parser, e.g. "xhtml:p"
                name = name.rpartition(":")[2]
            if name in _ALLOWED_TAGS:
                _copy_clean(child, etree.SubElement(dst, name))
            elif name not in _DROPPED_TAGS:
                _copy_clean(child, dst)
        # Comments, processing instructions and unexpanded entity references are dropped.
        _append_text(dst, child.tail)


def _plain_text(root: etree._Element) -> str:
    """Plain text of cleaned rich text, following HTML whitespace rules.

    Whitespace runs (newlines included) collapse to one space; block elements and ``<br/>``
    start a new line; empty lines are dropped.
    """
    parts: list[str] = []
    line_break = "\x00"  # cannot occur in XML text

    def walk(element: etree._Element) -> None:
        if element.text:
            parts.append(element.text)
        for child in element:
            tag = child.tag
            if tag == "br":
                parts.append(line_break)
            elif tag in _BLOCK_TAGS:
                parts.append(line_break)
                walk(child)
                parts.append(line_break)
            else:
                if tag in ("td", "th"):
                    parts.append(" ")
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(root)
    lines = (" ".join(line.split()) for line in "".join(parts).split(line_break))
    return "\n".join(line for line in lines if line)


def _finish_clean(root: etree._Element) -> tuple[str, str]:
    """Serialise a cleaned container's content; return ``(html, plain)``."""
    if root.text:
        root.text = root.text.lstrip()
    if len(root) and root[-1].tail:
        root[-1].tail = root[-1].tail.rstrip()
    elif not len(root) and root.text:
        root.text = root.text.rstrip()
    for element in root.iterdescendants():
        # An empty <div/> would open an unclosed element in an HTML page: write <div></div>.
        if element.tag not in _VOID_TAGS and element.text is None and not len(element):
            element.text = ""
    serialised = etree.tostring(root, encoding="unicode")
    if serialised.endswith("/>"):
        html = ""
    else:
        html = serialised[len("<r>") : -len("</r>")]
    return html, _plain_text(root)


def sanitize_element(container: etree._Element) -> tuple[str, str]:
    """:func:`sanitize_xhtml` for content already parsed: ``(safe_html, plain_text)``."""
    root = etree.Element("r")
    _copy_clean(container, root)
    return _finish_clean(root)


FRAGMENT_PARSER = xmlsafe.parser()


def sanitize_xhtml(fragment: str) -> tuple[str, str]:
    """Sanitise an (X)HTML fragment; return ``(safe_html, plain_text)``.

    Only the tags p, br, b, i, em, strong, ul, ol, li, dl, dt, dd, table, caption, thead,
    tbody, tfoot, tr, td, th, span, div, sub, sup, pre, code, blockquote and h1-h6 are kept,
    all without attributes (so no ``onclick=``, ``style=``, ``href="javascript:..."``).
    script, style, object, iframe, embed, img, form controls and similar are removed with
    their content; any other tag (a, font, u, ...) is unwrapped, keeping its text. Comments,
    processing instructions and entity references are dropped. The result is well-formed
    XHTML without namespaces (``<br/>``, ``<div></div>``). Tag names are matched without
    namespace, so ``xhtml:div`` and ``div`` are treated alike.

    The plain text puts block elements (p, div, li, tr, h1, ...) and ``<br/>`` on their own
    lines and collapses other whitespace.
    """
    if "<!" in fragment and re.search(r"<!\s*(DOCTYPE|ENTITY)", fragment, re.IGNORECASE):
        raise ReqIFError("refusing an XHTML fragment with a DOCTYPE or ENTITY declaration")
    wrapped = f'<r xmlns:xhtml="{XHTML_NS}" xmlns:reqif-xhtml="{XHTML_NS}">{fragment}</r>'
    try:
        source = etree.fromstring(wrapped.encode("utf-8"), FRAGMENT_PARSER)
    except etree.XMLSyntaxError:
        # Not well-formed XML (HTML-style <br>, &nbsp;, unknown prefixes): use the HTML parser.
        try:
            source = lxml_html.fragment_fromstring(fragment, create_parent="div")
        except (etree.ParserError, etree.XMLSyntaxError) as exc:
            raise ReqIFError(f"cannot read the rich text as XHTML or HTML: {exc}") from None
    return sanitize_element(source)
