"""The evidence browser, the ledger check on the dashboard, the GSN view and the downloads."""

from __future__ import annotations

import io
import json
import re
import zipfile

from django.core.cache import cache
from django.urls import reverse

from compliance.models import Baseline
from evidence.models import EntryKind, LogEntry

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_entries_show_their_decoded_statements(as_user, demo):
    html = as_user("vic").get(reverse("ui:evidence", args=["AEB"])).content.decode()
    assert "https://safecase.dev/evidence/baseline/v1" in html
    assert "baseline:v1.0-demo" in html
    assert "&quot;merkleRoot&quot;" in html  # the predicate, pretty-printed
    assert "safecase.local/ledger/AEB" in html  # the latest checkpoint note
    count = LogEntry.objects.filter(project=demo).count()
    assert f"{count} in all" in html


def test_entries_filter_by_kind(as_user, demo):
    html = as_user("vic").get(reverse("ui:evidence", args=["AEB"]), {"kind": "approval"})
    html = html.content.decode()
    assert "approval:hara" in html and "baseline:v1.0-demo" not in html
    unknown = as_user("vic").get(reverse("ui:evidence", args=["AEB"]), {"kind": "nope"})
    assert unknown.status_code == 200


def test_each_entry_checks_its_inclusion(as_user, demo):
    client = as_user("vic")
    size = LogEntry.objects.filter(project=demo).count()
    for index in (0, 1, size // 2, size - 1):
        url = reverse("ui:entry-proof", args=["AEB", index])
        fragment = client.get(url, **HTMX).content.decode()
        assert fragment.startswith('<span class="badge pass proof"')
        assert f"✓ included (size {size})" in fragment
        page = client.get(url).content.decode()
        assert "Audit path" in page or size == 1
    missing = client.get(reverse("ui:entry-proof", args=["AEB", size + 5]))
    assert missing.status_code == 404


def test_an_entry_newer_than_the_checkpoint_is_not_claimed(as_user, demo, monkeypatch):
    from evidence import ledger
    from evidence.models import Checkpoint

    older = Checkpoint.objects.filter(project=demo).order_by("size").first()
    monkeypatch.setattr(ledger, "latest_checkpoint", lambda project: older)
    html = as_user("vic").get(reverse("ui:entry-proof", args=["AEB", older.size]), **HTMX)
    assert f"✗ Entry {older.size} is newer than the checkpoint." in html.content.decode()


def test_the_ledger_is_verified_on_request_and_remembered(as_user, demo):
    cache.clear()
    client = as_user("vic")
    dashboard = reverse("ui:dashboard", args=["AEB"])
    assert "Not verified since the server started." in client.get(dashboard).content.decode()
    fragment = client.post(reverse("ui:verify-ledger", args=["AEB"]), **HTMX).content.decode()
    size = LogEntry.objects.filter(project=demo).count()
    assert "✓ verified" in fragment and f"{size} entries" in fragment
    html = client.get(dashboard).content.decode()
    assert "✓ verified" in html and "the log has grown since" not in html
    # Without JavaScript the button posts the form and comes back to the dashboard.
    response = client.post(reverse("ui:verify-ledger", args=["AEB"]))
    assert response.status_code == 302 and response["Location"] == dashboard
    # The log grows: the result stays, marked as older than the log.
    from evidence.ledger import Record, Subject, append

    append(demo, [Record(EntryKind.CHANGE, [Subject("x", "0" * 64)])])
    assert "the log has grown since" in client.get(dashboard).content.decode()
    cache.clear()


def test_the_gsn_view_draws_the_safety_case(as_user, demo):
    client = as_user("vic")
    html = client.get(reverse("ui:gsn", args=["AEB"])).content.decode()
    assert "<svg" in html and "gsn-node" in html
    assert "release gate not passed" in html
    html = client.get(reverse("ui:gsn", args=["AEB"]), {"baseline": "v1.0-demo"}).content
    assert b"<svg" in html
    unknown = client.get(reverse("ui:gsn", args=["AEB"]), {"baseline": "nope"}).content
    assert b"no baseline named" in unknown


def test_the_gsn_view_can_start_lower_in_the_argument(as_user, demo):
    client = as_user("vic")
    html = client.get(reverse("ui:gsn", args=["AEB"])).content.decode()
    focus = re.search(r'<a href="(\?root=[^"]+)"[^>]*>([^<]+)</a>', html)
    assert focus is not None
    html = client.get(reverse("ui:gsn", args=["AEB"]) + focus.group(1).replace("&amp;", "&"))
    html = html.content.decode()
    assert f"showing under <strong>{focus.group(2)}</strong>" in html
    assert "<svg" in html


def test_the_gsn_drawing_opens_on_its_own(as_user, demo):
    response = as_user("vic").get(reverse("ui:gsn-svg", args=["AEB"]), {"baseline": "v1.0-demo"})
    assert response["Content-Type"].startswith("image/svg+xml")
    assert response.content.startswith(b"<svg")
    missing = as_user("vic").get(reverse("ui:gsn-svg", args=["AEB"]), {"baseline": "nope"})
    assert missing.status_code == 404


def test_the_certification_package_downloads_and_is_recorded(as_user, demo):
    baseline = Baseline.objects.get(project=demo)
    before = LogEntry.objects.filter(project=demo).count()
    response = as_user("vic").post(reverse("ui:package", args=["AEB", baseline.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    name = f"AEB-v1.0-demo-{before}.zip"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as package:
        manifest = json.loads(package.read("manifest.json"))
        assert "verify.py" in package.namelist()
    assert manifest["baseline"]["name"] == "v1.0-demo"
    recorded = LogEntry.objects.filter(project=demo).latest("index")
    assert (recorded.kind, recorded.subject) == ("report", f"package:{name}")


def test_the_evidence_pack_pdf_downloads(as_user, demo):
    baseline = Baseline.objects.get(project=demo)
    response = as_user("vic").get(reverse("ui:evidence-pack", args=["AEB", baseline.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_a_check_of_another_log_of_the_same_size_is_not_shown_as_current(as_user, demo):
    """A cache shared with another database (a staging copy, a restored backup) may hold a
    check of a log with this project's id and size but other entries: the dashboard never
    shows it as a check of this log."""
    from evidence import verification
    from evidence.models import LogHead

    cache.clear()
    client = as_user("vic")
    dashboard = reverse("ui:dashboard", args=["AEB"])
    client.post(reverse("ui:verify-ledger", args=["AEB"]), **HTMX)
    head = LogHead.objects.get(project=demo)
    size, root = head.size, bytes(head.root)
    assert verification.remembered(demo, size, root)["current"]
    # the other database's log: same project id, same size, another root
    other = bytes(32 - len(b"other")) + b"other"
    assert not verification.remembered(demo, size, other)["current"]
    LogHead.objects.filter(project=demo).update(root=other)
    assert "the log has grown since" in client.get(dashboard).content.decode()
    cache.clear()
