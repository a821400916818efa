"""The confirmation page: Table 1 at the goals' ASIL, signing, refusals beside the field."""

from compliance.iso26262 import ConfirmationMeasure
from compliance.models import Approval


def test_everyone_sees_the_matrix_and_the_signed_measures(as_user, demo):
    page = as_user("vic").get("/p/AEB/confirmation/").content.decode()
    assert "Table 1 at ASIL D" in page
    assert "Sign a confirmation measure" not in page  # a viewer does not confirm
    signed = set(Approval.objects.filter(project=demo).values_list("measure", flat=True))
    assert 0 < len(signed) < len(ConfirmationMeasure)
    assert page.count("not yet") == len(ConfirmationMeasure) - len(signed)


def test_the_assessor_signs_at_i3(as_user, demo):
    response = as_user("ada").post(
        "/p/AEB/confirmation/approve/",
        {
            "measure": "safety_case",
            "work_product": "Safety case v1",
            "author": "sam",
            "asil": "D",
            "outcome": "confirmed_with_findings",
            "findings": "two open points",
        },
    )
    assert response.status_code == 302
    approval = Approval.objects.get(project=demo, measure="safety_case")
    assert (approval.required_independence, approval.achieved_independence) == ("I3", "I3")


def test_a_self_review_is_refused_beside_the_reviewer(as_user, demo):
    before = Approval.objects.count()
    response = as_user("sam").post(
        "/p/AEB/confirmation/approve/",
        {
            "measure": "safety_case",
            "work_product": "Safety case v1",
            "author": "sam",
            "asil": "D",
            "outcome": "confirmed",
        },
    )
    assert response.status_code == 400
    assert "reviewer is the author" in response.content.decode()
    assert Approval.objects.count() == before


def test_an_engineer_may_not_sign(as_user, demo):
    response = as_user("erin").post(
        "/p/AEB/confirmation/approve/",
        {
            "measure": "safety_case",
            "work_product": "x",
            "author": "sam",
            "asil": "D",
            "outcome": "confirmed",
        },
    )
    assert response.status_code == 403
