"""Recording an ASIL decomposition from the requirement page."""

from compliance import services
from compliance.models import Decomposition


def children(demo, people, first_asil, second_asil):
    for code, asil in (("TSR-091", first_asil), ("TSR-092", second_asil)):
        services.requirement_create(
            user=people["erin"], project=demo, code=code, kind="TSR", asil=asil
        )


def post(as_user, **data):
    return as_user("erin").post(
        "/p/AEB/requirements/FSR-002/decompose/",
        {
            "first": "TSR-091",
            "second": "TSR-092",
            "elements": "two cores",
            "dependent_failure_analysis": "DFA-02",
            **data,
        },
    )


def test_a_valid_pair_is_recorded(as_user, demo, people):
    children(demo, people, "C(D)", "A(D)")
    assert post(as_user).status_code == 302
    decomposition = Decomposition.objects.get(parent__code="FSR-002")
    assert {decomposition.first.code, decomposition.second.code} == {"TSR-091", "TSR-092"}


def test_an_illegal_pair_is_refused_beside_the_field(as_user, demo, people):
    children(demo, people, "A(D)", "A(D)")
    response = post(as_user)
    assert response.status_code == 400
    assert 'id="id_second_errors"' in response.content.decode()
    assert not Decomposition.objects.filter(parent__code="FSR-002").exists()


def test_an_unknown_child_is_named(as_user, demo):
    response = post(as_user, first="TSR-999")
    assert response.status_code == 400
    assert "No requirement" in response.content.decode()


def test_a_viewer_sees_no_form_and_may_not_post(as_user, demo):
    assert (
        "Record an ASIL decomposition"
        not in as_user("vic").get("/p/AEB/requirements/FSR-002/").content.decode()
    )
    assert as_user("vic").post("/p/AEB/requirements/FSR-002/decompose/", {}).status_code == 403
