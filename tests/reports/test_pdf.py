"""The PDF evidence pack: reproducible bytes, the dates of the evidence, the expected content."""

import io
import re
import zlib

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from pypdf import PdfReader
from reportlab import rl_config

from compliance import services
from compliance.models import Approval, Baseline, ItemDefinition
from evidence.models import Checkpoint
from projects.models import Project
from reports import gsn, pdf, selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    call_command("seed_demo")
    return Project.objects.get(key="AEB")


def viewer():
    return get_user_model().objects.get(username="vic")


def render(project, *, baseline=None, checkpoint=None, compress=False):
    baseline = baseline or selectors.baseline_named(project)
    checkpoint = checkpoint or selectors.latest_checkpoint(project)
    snapshot = selectors.case_snapshot(
        user=viewer(), project=project, baseline=baseline, checkpoint=checkpoint
    )
    return pdf.render(
        snapshot,
        gsn.build(snapshot),
        selectors.register_rows(project, checkpoint.size),
        compress=compress,
    )


def pages_of(data: bytes) -> list[str]:
    """The text of each page as a PDF reader extracts it, whitespace collapsed."""
    reader = PdfReader(io.BytesIO(data))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def text_of(data: bytes) -> str:
    return " ".join(pages_of(data))


def test_it_is_a_pdf_and_byte_identical_for_the_same_baseline(demo):
    first = render(demo, compress=True)
    second = render(demo, compress=True)
    assert first.data.startswith(b"%PDF-") and first.data.rstrip().endswith(b"%%EOF")
    assert first.data == second.data
    assert first.pages > 10


def test_a_later_checkpoint_or_another_baseline_changes_the_bytes(demo):
    before = render(demo)
    services.baseline_freeze(
        user=get_user_model().objects.get(username="sam"), project=demo, name="v1.1"
    )
    at_v1 = render(demo, baseline=Baseline.objects.get(name="v1.0-demo"))
    at_v11 = render(demo)
    assert len({before.data, at_v1.data, at_v11.data}) == 3
    assert "Baseline v1.1 (ledger entry" in text_of(at_v11.data)
    assert "Baseline v1.0-demo (ledger entry" in text_of(at_v1.data)


def test_dates_and_id_come_from_the_evidence_not_the_clock(demo):
    checkpoint = Checkpoint.objects.filter(project=demo).order_by("-size").first()
    data = render(demo).data
    stamp = checkpoint.created_at.strftime("D:%Y%m%d%H%M%S+00'00'").encode()
    assert data.count(b"/CreationDate (" + stamp + b")") == 1
    assert data.count(b"/ModDate (" + stamp + b")") == 1
    baseline = selectors.baseline_named(demo)
    import hashlib

    fixed = hashlib.sha256(f"{baseline.root}:{bytes(checkpoint.root).hex()}".encode()).digest()
    assert f"/ID \n[<{fixed[:16].hex()}>".encode() in data
    assert (rl_config.invariant, rl_config.useA85) == (0, 1)  # the switches are put back


def test_it_holds_every_part_of_the_evidence_pack(demo):
    result = render(demo)
    text = text_of(result.data)
    baseline = selectors.baseline_named(demo)
    checkpoint = selectors.latest_checkpoint(demo)
    for expected in (
        "Safety case evidence pack",
        "Autonomous emergency braking (AEB)",
        "v1.0-demo",
        baseline.root,
        bytes(checkpoint.root).hex(),
        "Contents",
        "NOT READY for release",
        "Operational design domain",
        "HE-01",
        "SG-01",
        "FSR-002",
        "TSR-001 (B(D))",  # a decomposition child with its ASIL
        "Traceability matrix",
        "review: pass v1 #",
        "AC-02",
        "Confirmation review: hazard analysis",
        "Evidence register",
        "GSN safety case",
        "Figure 1.",
        "python verify.py PACKAGE.zip",
        "page 3 of",
    ):
        assert expected in text, expected
    # the full fingerprint of the signing key, for comparison with the operator's
    from evidence.keys import load_signing_key, log_name
    from evidence.verify import key_fingerprint

    fingerprint = key_fingerprint(log_name(), load_signing_key().public)
    grouped = " ".join(fingerprint[i : i + 8] for i in range(0, 64, 8))
    assert "Signing key fingerprint" in text and grouped in text
    assert "--trusted-fingerprint" in text
    # every ledger entry is in the register, with its digest
    first = demo.log_entries.order_by("index").first()
    assert first.digest in text
    assert baseline.entry.index in result.cited


def test_the_contents_page_numbers_are_filled_in(demo):
    data = render(demo).data
    forms = dict(re.findall(rb"/FormXob\.toc-(\w+) (\d+) 0 R", data))
    assert set(forms) >= {b"summary", b"register", b"gsn", b"verify"}
    number = forms[b"verify"].decode()
    body = re.search(
        rb"\n" + number.encode() + rb" 0 obj\n.*?stream\r?\n(.*?)endstream", data, re.S
    )
    assert body and re.search(rb"\((\d+)\) Tj", body.group(1))


def test_markup_and_pdf_syntax_in_user_text_are_shown_literally(demo):
    item = ItemDefinition.objects.get(project=demo)
    services.item_set(
        user=get_user_model().objects.get(username="sam"),
        project=demo,
        function="<b>bold</b> & (unbalanced \\ paren",
        boundaries=item.boundaries,
        odd="\x07null <font size=40>big</font>",
        assumptions=item.assumptions,
    )
    services.baseline_freeze(
        user=get_user_model().objects.get(username="sam"), project=demo, name="hostile"
    )
    text = text_of(render(demo).data)
    assert "<b>bold</b> & (unbalanced \\ paren" in text
    assert "null <font size=40>big</font>" in text


def test_compressed_streams_carry_the_same_text(demo):
    data = render(demo, compress=True).data
    streams = re.findall(rb"stream\r?\n(.*?)endstream", data, re.S)
    plain = b"".join(zlib.decompress(s) for s in streams if s[:1] == b"x")
    assert b"Evidence register" in plain


def section(pages: list[str], title: str, next_title: str) -> str:
    """The text from the page whose heading is ``title`` up to the one of ``next_title``."""
    text = " ".join(pages)
    start = text.index(title, text.index("Contents") + 500)
    return text[start : text.index(next_title, start)]


def test_the_document_control_names_the_revision_and_the_approvals(demo):
    result = render(demo)
    pages = pages_of(result.data)
    control = section(pages, "1 Document control", "2 Summary and release readiness")
    checkpoint = selectors.latest_checkpoint(demo)
    assert "Identifier AEB-EVIDENCE-PACK" in control
    assert f"Revision v1.0-demo @ {checkpoint.size} entries" in control
    assert "Prepared by vic" in control
    approvals = Approval.objects.filter(project=demo, outcome="confirmed").select_related("entry")
    assert approvals
    for approval in approvals:
        assert f"ledger entry #{approval.entry.index}" in control
        assert approval.entry.index in result.cited


def test_every_font_is_an_embedded_truetype_font(demo):
    reader = PdfReader(io.BytesIO(render(demo, compress=True).data))
    fonts = {}
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            descriptor = font.get("/FontDescriptor")
            fonts[font["/BaseFont"]] = descriptor is not None and "/FontFile2" in descriptor
    assert fonts and all(fonts.values()), fonts


def test_the_decision_section_lists_every_decision_entry_of_the_register(demo):
    pages = pages_of(render(demo).data)
    decisions = section(pages, "11 Decision records", "12 Evidence register")
    entries = list(
        demo.log_entries.filter(kind="decision").order_by("index").values_list("index", flat=True)
    )
    assert entries  # the demo's ASIL decomposition is a decision
    assert "No decision record is in this ledger" not in decisions
    assert f"The ledger holds {len(entries)} decision" in decisions
    for index in entries:
        assert f"#{index}" in decisions
        assert "ASIL decomposition of" in decisions


def test_the_gap_table_counts_the_baseline_not_the_live_project(demo):
    baseline = selectors.baseline_named(demo)
    frozen = sum(
        1
        for key, value in baseline.content.items()
        if key.startswith("requirement:") and value.get("status") != "obsolete"
    )
    sam = get_user_model().objects.get(username="sam")
    for n in range(3):
        services.requirement_create(
            user=sam,
            project=demo,
            code=f"FSR-9{n}",
            kind="FSR",
            title="Added after the baseline",
            text="Added after the baseline was frozen.",
            asil="B",
        )
    summary = section(pages_of(render(demo, baseline=baseline).data), "2 Summary", "3 Item")
    assert f"Requirements (not obsolete) {frozen} requirements" in summary
    assert "FSR-90" not in summary
    assert re.search(r"ASIL [A-D]: \d", summary)  # counts per ASIL, never "A2"
    assert not re.search(r"(?<![\w-])[A-D]\d(?![\w-])", summary)


def test_gsn_figures_print_their_text_at_seven_points_or_more(demo):
    from reports.gsn.drawing import to_drawing
    from reports.gsn.geometry import FONT_SIZE
    from reports.pdf.layout import LANDSCAPE, MARGIN

    snapshot = selectors.case_snapshot(user=viewer(), project=demo, baseline=None)
    case = gsn.build(snapshot)
    width, height = LANDSCAPE[0] - 2 * MARGIN, LANDSCAPE[1] - 2 * MARGIN - 60
    parts = gsn.figures(case, max_width=width, max_height=height)
    assert len(parts) > 1  # the demo's argument does not fit one page at 7 pt
    drawn = set()
    for _title, root, ids in parts:
        drawing = to_drawing(case, root, ids, max_width=width, max_height=height)
        assert FONT_SIZE * drawing.contents[0].transform[0] >= 7
        drawn.update(ids)
    assert drawn == set(case.nodes)


def test_a_campaign_run_twice_shows_its_verdict_rows_once(demo):
    baseline = selectors.baseline_named(demo)
    checkpoint = selectors.latest_checkpoint(demo)
    snapshot = selectors.case_snapshot(
        user=viewer(), project=demo, baseline=baseline, checkpoint=checkpoint
    )
    verdict = selectors.VerdictRow(
        criterion="AC-02",
        verdict="fail",
        failures=7,
        trials=161,
        exposure=None,
        upper_bound=0.071,
        target=59.0,
        progress=1.0,
        confidence=0.9,
        unit="cases",
        allowed=0.05,
    )
    snapshot.runs = [
        selectors.RunRow("AEB-demo", number, "local", 161, entry, (verdict,))
        for number, entry in ((1, 3), (2, 5))
    ]
    result = pdf.render(
        snapshot,
        gsn.build(snapshot),
        selectors.register_rows(demo, checkpoint.size),
        compress=False,
    )
    runs = section(pages_of(result.data), "8 Verification and validation", "9 SOTIF")
    assert runs.count("7 of 161 cases") == 1
    assert "Latest run 2 of campaign AEB-demo (executor local, 161 cases)" in runs
    assert "run 1 of AEB-demo (161 cases, entry #3)" in runs


def _verdict(criterion, verdict, **fields):
    values = {
        "failures": 0,
        "trials": 0,
        "exposure": None,
        "upper_bound": 0.0,
        "target": 45.0,
        "progress": 0.0,
        "confidence": 0.95,
        "unit": "cases",
        "allowed": 0.05,
        **fields,
    }
    return selectors.VerdictRow(criterion=criterion, verdict=verdict, **values)


def test_verdicts_carry_their_units_and_what_they_were_judged_on(demo):
    from reports.gaps import snapshot_gaps

    baseline = selectors.baseline_named(demo)
    checkpoint = selectors.latest_checkpoint(demo)
    snapshot = selectors.case_snapshot(
        user=viewer(), project=demo, baseline=baseline, checkpoint=checkpoint
    )
    verdicts = (
        _verdict(
            "AC-01",
            "inconclusive",
            trials=161,
            exposure=0.026,
            upper_bound=115.2,
            target=2995732.0,
            progress=8.7e-09,
            unit="km",
            allowed=1e-06,
            scope="every case",
            cases_in_scope=161,
            scenarios=(("CCRb", 71, 71, 71, 0), ("CCRs", 90, 90, 90, 0)),
        ),
        _verdict(
            "AC-02",
            "fail",
            failures=3,
            trials=45,
            upper_bound=0.0001234,
            progress=1.0,
            allowed=0.001,
            scope="CCRs; ego_speed 20 to 50",
            cases_in_scope=45,
            cases_out_of_scope=116,
            scenarios=(("CCRs", 90, 45, 45, 3),),
        ),
        _verdict("AC-03", "not_judged", scope="CPNA; ego_speed up to 40", cases_out_of_scope=161),
    )
    snapshot.runs = [selectors.RunRow("AEB-demo", 1, "local", 161, 3, verdicts)]
    snapshot.gaps = snapshot_gaps(snapshot)
    case = gsn.build(snapshot)
    result = pdf.render(
        snapshot, case, selectors.register_rows(demo, checkpoint.size), compress=False
    )
    pages = pages_of(result.data)
    runs = section(pages, "8 Verification and validation", "9 SOTIF")
    for expected in (
        "AC-01 inconclusive 0 in 0.026 km 115 per km 1e-06 per km 95 % "
        "0.026 km of 3.0 million km needed (8.7e-07 %)",
        "AC-02 fail 3 of 45 cases 1.23e-04 per case 0.001 per case 95 %",
        "AC-03 not judged: no case in scope 0 of 0 cases none: nothing judged",
        "AC-02 CCRs; ego_speed 20 to 50 (116 outside) CCRs 90 45 45 3",
        "AC-03 CPNA; ego_speed up to 40 (161 outside) no case in scope - 0 0 0",
        "AC-01 every case (0 outside) CCRb 71 71 71 0 CCRs 90 90 90 0",
        "log scale (one tick per factor of 10)",
    ):
        assert expected in runs, expected
    assert "0.000 " not in runs
    sotif = section(pages, "9 SOTIF", "10 Confirmation")
    assert "1e-06 per km 95 %" in sotif and "2,995,732 km" in sotif
    assert "Scope: CCRs; ego_speed 20 to 50." in sotif
    summary = section(pages, "2 Summary", "3 Item")
    assert "Acceptance criteria with no case in scope in any run 2 criteria" in summary
    assert "Acceptance criteria with no case in scope: AC-03, AC-04" in summary
    # the GSN puts the breakdown in the context of the criterion's requirement
    context = case.nodes["C:criterion:AC-02"]
    assert (
        context.text == "scope CCRs; ego_speed 20 to 50: CCRs 45/90 in scope, 45 judged, 3 failing"
    )
    assert "C:criterion:AC-02" in case.contexts("G:requirement:FSR-010")
    assert case.nodes["C:criterion:AC-03"].text.startswith("not judged: no case in its scope")
