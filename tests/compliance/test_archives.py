"""Decompression bombs in uploads are refused with a message naming the file, and change
nothing: a 400 KB .reqifz or .xlsx that expands to 400 MB, and one whose headers lie about
the size. How fast and in how little memory is measured in ``benchmarks/bench_archives.py``.
"""

import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from compliance import archives
from compliance.interchange.reqif import reqif_import
from compliance.interchange.tables import table_import
from compliance.models import Requirement
from evidence.models import LogEntry
from tests.compliance import bombs

pytestmark = pytest.mark.django_db

BASE = "/api/v1/projects/AEB"


@pytest.fixture(scope="module")
def zeros():
    """400 MB of zeros in about 400 KB of deflate."""
    return bombs.Member.zeros("bomb", 400 * bombs.MB)


@pytest.fixture
def engineer(members):
    return members["engineer"]


def written(project) -> tuple[int, int]:
    return (
        Requirement.objects.filter(project=project).count(),
        LogEntry.objects.filter(project=project).count(),
    )


def refusal(service, project, engineer, data: bytes, filename: str) -> str:
    """The one message ``service`` refuses the upload with; asserts nothing was written."""
    before = written(project)
    with pytest.raises(ValidationError) as refused:
        service(user=engineer, project=project, data=data, filename=filename)
    assert written(project) == before
    (message,) = refused.value.message_dict["file"]
    return message


def test_the_bomb_is_what_it_claims(zeros):
    data = bombs.reqifz(zeros)
    assert len(data) < 500_000
    (info,) = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert info.file_size == 400 * bombs.MB
    assert info.file_size // len(data) > 1000


def test_a_reqifz_bomb_is_refused_naming_the_file(project, engineer, zeros):
    data = bombs.reqifz(zeros)
    message = refusal(reqif_import, project, engineer, data, "specs/bomb.reqifz")
    assert message.startswith("bomb.reqifz: archive refused:")
    limit = f"{200 * len(data):,} bytes (200 times the archive's size)"
    assert message.endswith(f"declare 419,430,400 bytes uncompressed; the limit is {limit}")


def test_a_bomb_under_the_cap_is_refused_by_its_ratio(project, engineer, settings):
    """100 MB of zeros is within the 100 MiB cap, but no document deflates a thousandfold."""
    data = bombs.reqifz(bombs.Member.zeros("bomb", 100 * bombs.MB))
    message = refusal(reqif_import, project, engineer, data, "full.reqifz")
    assert message.endswith(
        f"the limit is {200 * len(data):,} bytes (200 times the archive's size)"
    )
    settings.SAFECASE_MAX_EXPANSION_RATIO = 2000  # a looser ratio lets it through to the parser
    message = refusal(reqif_import, project, engineer, data, "full.reqifz")
    assert message == "full.reqifz: malformed XML: text before the root element"


@pytest.mark.parametrize("declared", [1_000, 70 * bombs.MB])
def test_a_reqifz_whose_headers_lie_about_the_size_is_refused(project, engineer, zeros, declared):
    """The headers say 1 KB (or 70 MB, under every limit); the member inflates to 400 MB."""
    liar = bombs.reqifz(zeros.renamed("bomb", declared=declared))
    message = refusal(reqif_import, project, engineer, liar, "liar.reqifz")
    assert message.startswith("liar.reqifz: archive refused: member 'requirements.reqif' is ")
    assert "corrupt" in message


def test_the_actual_expansion_is_counted_not_the_declared():
    """A reader that yields more than the headers declare is still stopped at the cap."""

    class Archive:  # yields 5 MB for a member that declares 10 bytes
        def open(self, info):
            return io.BytesIO(bytes(5 * bombs.MB))

    info = zipfile.ZipInfo("small.reqif")
    info.file_size = 10
    with pytest.raises(archives.ArchiveRefused, match="expand to more than the limit of 2,097,"):
        archives.measure(Archive(), [info], 2 * bombs.MB, "its members")
    assert archives.measure(Archive(), [info], 5 * bombs.MB, "its members") == {
        "small.reqif": 5 * bombs.MB
    }


def test_an_xlsx_bomb_is_refused_naming_the_file(project, engineer, zeros):
    data = bombs.xlsx(zeros)
    message = refusal(table_import, project, engineer, data, "sheet.xlsx")
    assert message.startswith("sheet.xlsx is refused: its parts declare 419,430,")
    assert message.endswith(
        f"the limit is {200 * len(data):,} bytes (200 times the archive's size)."
    )


def test_an_xlsx_bomb_with_lying_headers_is_refused(project, engineer, zeros):
    liar = bombs.xlsx(zeros.renamed("bomb", declared=10_000))
    message = refusal(table_import, project, engineer, liar, "liar.xlsx")
    assert message.startswith("liar.xlsx is refused: member 'xl/worksheets/sheet1.xml' is corr")


def test_a_bomb_through_the_api_is_a_400_naming_the_upload(api, project, engineer, zeros):
    upload = SimpleUploadedFile("bomb.reqifz", bombs.reqifz(zeros))
    response = api(engineer).post(f"{BASE}/reqif/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert response.json()["file"][0].startswith("bomb.reqifz: archive refused:")
    assert written(project) == (0, 0)


def test_a_large_plain_reqif_of_blanks_is_refused(project, engineer):
    """The prolog scan skips blanks at C speed: 20 MB of them is a quick refusal."""
    blanks = b" " * 20_000_000
    message = refusal(reqif_import, project, engineer, blanks, "blank.reqif")
    assert message == "blank.reqif: the document is empty: no root element"


def test_an_archive_within_the_cap_still_imports(project, engineer, settings):
    from tests.compliance.reqif_samples import generate_reqif

    document = generate_reqif(20, 5)
    data = bombs.build_zip([bombs.Member.of("spec.reqif", document)])
    settings.SAFECASE_MAX_EXPANDED_BYTES = len(document)
    report = reqif_import(
        user=engineer, project=project, data=data, filename="spec.reqifz", on_violation="note"
    )
    assert report.requirements == 20
    settings.SAFECASE_MAX_EXPANDED_BYTES = len(document) - 1
    with pytest.raises(ValidationError, match="spec.reqifz: archive refused"):
        reqif_import(user=engineer, project=project, data=data, filename="spec.reqifz")


def test_a_utf16_document_is_scanned_only_as_far_as_its_prolog(project, engineer):
    """Blanks in UTF-16: only the first MiB is decoded to look for the root element."""
    blanks = " ".encode("utf-16") + " ".encode("utf-16-le") * 10_000_000
    message = refusal(reqif_import, project, engineer, blanks, "wide.reqif")
    assert message == "wide.reqif: refused: no root element in the first 1 MiB of the document"
