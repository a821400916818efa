"""The TrueType fonts every drawing and page of the reports uses, embedded in the PDF.

Bitstream Vera Sans, as reportlab ships it: a PDF that only names a standard font leaves the
glyphs to the reader's substitute, so the same file could look different on the assessor's
machine. Embedded (as subsets) the pages show the same glyphs everywhere.
"""

from __future__ import annotations

import os
import threading

FONT, BOLD = "Vera", "Vera-Bold"
_FILES = {FONT: "Vera.ttf", BOLD: "VeraBd.ttf", "Vera-Italic": "VeraIt.ttf"}
_lock = threading.Lock()


def register_fonts() -> None:
    """Register the fonts with reportlab once per process (idempotent, thread-safe)."""
    from reportlab import rl_config
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    with _lock:
        if FONT in pdfmetrics.getRegisteredFontNames():
            return
        folder = os.path.join(os.path.dirname(rl_config.__file__), "fonts")
        for name, file_name in _FILES.items():
            pdfmetrics.registerFont(TTFont(name, os.path.join(folder, file_name)))
        for bold, italic, name in (
            (0, 0, FONT),
            (1, 0, BOLD),
            (0, 1, "Vera-Italic"),
            (1, 1, BOLD),
        ):
            addMapping(FONT, bold, italic, name)


def drawing_of(width: float, height: float):
    """A reportlab Drawing whose graphics state starts in :data:`FONT` (reportlab would start
    it in a standard font, which would then be named, unembedded, in the page resources)."""
    from reportlab.graphics.shapes import Drawing

    register_fonts()
    drawing = Drawing(width, height)
    drawing.initialFontName = FONT
    return drawing
