"""The document template: fixed dates and ID, contents with page numbers in one pass."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfdoc import DummyDoc, PDFText
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate

from reports.pdf.layout import FONT, LANDSCAPE, MARGIN, PORTRAIT, _cut
from reports.selectors import CaseSnapshot

_lock = threading.Lock()


def _fixed_canvas(stamp: str, doc_id: bytes):
    class FixedCanvas(Canvas):
        """A canvas whose dates and document ID come from the evidence, not the clock."""

        def __init__(self, *args, **kwargs):
            kwargs["invariant"] = 1
            kwargs["initialFontName"] = FONT  # no standard font enters the resources
            super().__init__(*args, **kwargs)
            self.setDateFormatter(lambda *_: stamp)
            ids = PDFText(doc_id, enc="raw").format(DummyDoc())
            self._doc._ID = b"\n[" + ids + ids + b"]\n% Safecase evidence pack\n"
            self._pages_shown = 0

        def showPage(self):
            self._pages_shown += 1
            super().showPage()

        def save(self):
            self.beginForm("page-count")
            self.setFont(FONT, 7)
            self.drawString(0, 0, str(self._pages_shown))
            self.endForm()
            super().save()

    return FixedCanvas


class _Contents(Flowable):
    """One line of the contents: a link to the section and its page number (a form that the
    document fills in when the section is laid out)."""

    def __init__(self, key: str, text: str):
        super().__init__()
        self.key, self.text = key, text

    def wrap(self, available_width, available_height):
        self.width = available_width
        return available_width, 16

    def draw(self):
        canvas = self.canv
        canvas.setFont(FONT, 10)
        canvas.drawString(0, 4, self.text)
        canvas.linkRect("", self.key, (0, 0, self.width, 14), relative=1, thickness=0)
        canvas.saveState()
        canvas.translate(self.width, 4)
        canvas.doForm(f"toc-{self.key}")
        canvas.restoreState()


class _Document(BaseDocTemplate):
    def __init__(self, buffer, snapshot: CaseSnapshot, *, compress: bool):
        self.snapshot = snapshot
        title = f"Evidence pack {snapshot.project_key} {snapshot.baseline_name}"
        super().__init__(
            buffer,
            pagesize=PORTRAIT,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN + 4 * mm,
            bottomMargin=MARGIN,
            title=title,
            author="Safecase",
            subject=f"Safety case of {snapshot.project_name}",
            creator="Safecase",
            keywords=f"{snapshot.baseline_root} {snapshot.checkpoint_root.hex()}",
            invariant=1,
            pageCompression=1 if compress else 0,
        )
        self.addPageTemplates(
            [
                self._template("cover", PORTRAIT, decorate=False),
                self._template("portrait", PORTRAIT),
                self._template("landscape", LANDSCAPE),
            ]
        )

    def _template(self, name, size, decorate=True):
        width, height = size
        frame = Frame(
            self.leftMargin,
            self.bottomMargin,
            width - self.leftMargin - self.rightMargin,
            height - self.topMargin - self.bottomMargin,
            id=f"{name}-frame",
            leftPadding=0,
            rightPadding=0,
            topPadding=0,
            bottomPadding=0,
        )
        if decorate:
            return PageTemplate(
                id=name,
                frames=[frame],
                pagesize=size,
                onPage=lambda canvas, doc: self._decorate(canvas, size),
            )
        return PageTemplate(id=name, frames=[frame], pagesize=size)

    def _decorate(self, canvas, size):
        """Header (project, baseline) and footer (checkpoint, page N of M) of a page."""
        s = self.snapshot
        width, height = size
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(colors.HexColor("#546e7a"))
        canvas.drawString(
            self.leftMargin,
            height - MARGIN + 2,
            _cut(
                f"{s.project_name} ({s.project_key}) - evidence pack, baseline {s.baseline_name}",
                110,
            ),
        )
        canvas.drawString(
            self.leftMargin,
            MARGIN - 12,
            f"ledger checkpoint {s.size} entries, root {s.checkpoint_root.hex()}",
        )
        label = f"page {canvas.getPageNumber()} of "
        right = width - self.rightMargin
        canvas.drawRightString(right - 12, MARGIN - 12, label)
        canvas.translate(right - 10, MARGIN - 12)
        canvas.doForm("page-count")
        canvas.restoreState()

    def afterFlowable(self, flowable):
        key = getattr(flowable, "_section", None)
        if not key:
            return
        canvas = self.canv
        canvas.bookmarkPage(key)
        canvas.addOutlineEntry(flowable.getPlainText(), key, 0)
        canvas.beginForm(f"toc-{key}")
        canvas.setFont(FONT, 10)
        canvas.drawRightString(0, 0, str(canvas.getPageNumber()))
        canvas.endForm()


@contextmanager
def _invariant():
    """reportlab's global switches for one build: invariant output, and binary (not ASCII85)
    compressed streams, a quarter smaller and faster to write."""
    with _lock:
        previous = rl_config.invariant, rl_config.useA85
        rl_config.invariant, rl_config.useA85 = 1, 0
        try:
            yield
        finally:
            rl_config.invariant, rl_config.useA85 = previous
