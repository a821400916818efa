"""The PDF evidence pack of a baseline, drawn with reportlab (no system packages).

Reproducible by construction: the same snapshot gives the same bytes. reportlab runs in its
invariant mode, the creation and modification dates are the checkpoint's time (never the
clock), the document ID is derived from the baseline and checkpoint roots, and every list is
in a fixed order. Every section shows the baseline at its checkpoint: the work products frozen
in the baseline, the evidence the ledger held at the checkpoint, and a gap analysis of the two
(``reports.gaps``); the document control section names the revision (baseline and checkpoint
size), who prepared it and the confirmation reviews with their ledger entries. The text is set
in the TrueType fonts of ``reports.gsn.fonts``, embedded. Large projects stay fast: tables
hold plain strings (wrapped once with ``simpleSplit``, no Paragraph per cell) and are drawn
straight onto the page as text operators (``layout._Rows``, no cell objects), splitting
between rows and repeating their header, and the contents page gets its page numbers from PDF
forms filled in as the sections are laid out, so the document is built in one pass.

Modules: ``layout`` (geometry, styles, text and table primitives), ``template`` (the document
template), ``charts``, ``concept`` and ``assurance`` (the sections, as mixins of the pack) and
``pack`` (the outline, the front matter and :func:`render`).
"""

from reports.pdf.pack import PdfResult, render

__all__ = ["PdfResult", "render"]
