"""The review pages on the demo: a safety manager opens a review, a named reviewer signs with
the password again (or is refused), the signature shows on the requirement and turns stale
after an edit, comments mention people, and the impact of an edit shows before it is saved."""

import pytest
from django.core import mail
from django.urls import reverse

from compliance.models import ReviewSession, Signature

pytestmark = pytest.mark.django_db
PASSWORD = "safecase-demo"


@pytest.fixture
def review(as_user, people, demo, django_capture_on_commit_callbacks):
    for name in ("ada", "eli"):
        people[name].email = f"{name}@example.com"
        people[name].save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user("sam").post(
            reverse("ui:review-open", args=["AEB"]),
            {
                "title": "FSC review",
                "measure": "functional_safety_concept",
                "reviewers": ["ada", "eli"],
                "keys": "requirement:FSR-001\nrequirement:FSR-002",
            },
        )
    session = ReviewSession.objects.get(title="FSC review")
    assert response.status_code == 302 and response["Location"] == reverse(
        "ui:review", args=["AEB", session.pk]
    )
    return session


def _sign(client, session, code, **fields):
    item = session.items.get(key=f"requirement:{code}")
    data = {"item_pk": item.pk, **{f"i{item.pk}-{k}": v for k, v in fields.items()}}
    return client.post(reverse("ui:review-sign", args=["AEB", session.pk]), data)


def test_opening_a_review_asks_the_reviewers(review):
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@example.com", "eli@example.com"]


def test_a_reviewer_signs_with_the_password_and_a_rejection_says_why(as_user, review):
    ada = as_user("ada")
    page = ada.get(reverse("ui:review", args=["AEB", review.pk])).content.decode()
    assert page.count('type="password"') == 2 and "Sign FSR-001" in page
    wrong = _sign(ada, review, "FSR-001", decision="approve", meaning="approved", password="x")
    assert wrong.status_code == 400 and "That is not your password" in wrong.content.decode()
    signed = _sign(
        ada, review, "FSR-001", decision="approve", meaning="approved", password=PASSWORD
    )
    assert signed.status_code == 302
    silent = _sign(ada, review, "FSR-002", decision="reject", meaning="approved", password=PASSWORD)
    assert silent.status_code == 400 and "Say why you reject it." in silent.content.decode()
    rejected = _sign(
        ada,
        review,
        "FSR-002",
        decision="reject",
        meaning="approved",
        comment="The FTTI is missing.",
        password=PASSWORD,
    )
    assert rejected.status_code == 302
    assert sorted(Signature.objects.values_list("item__key", "decision")) == [
        ("requirement:FSR-001", "approve"),
        ("requirement:FSR-002", "reject"),
    ]
    # Someone not named sees no form and cannot sign.
    sam_page = as_user("sam").get(reverse("ui:review", args=["AEB", review.pk])).content
    assert b'type="password"' not in sam_page
    refused = _sign(
        as_user("sam"), review, "FSR-001", decision="approve", meaning="approved", password=PASSWORD
    )
    assert refused.status_code == 403


def test_the_signature_shows_on_the_item_and_turns_stale_after_an_edit(
    as_user, review, people, demo
):
    from compliance import services
    from compliance.models import Requirement

    ada = as_user("ada")
    _sign(ada, review, "FSR-001", decision="approve", meaning="approved", password=PASSWORD)
    item_url = reverse("ui:item-reviews", args=["AEB", "requirement:FSR-001"])
    fragment = as_user("vic").get(item_url).content.decode()
    assert "ada: " in fragment and "FSC review" in fragment and ">stale<" not in fragment
    detail = as_user("vic").get(reverse("ui:requirement", args=["AEB", "FSR-001"])).content
    assert item_url.encode() in detail  # the requirement page loads it
    fsr = Requirement.objects.get(project=demo, code="FSR-001")
    services.requirement_update(user=people["erin"], requirement=fsr, text=fsr.text + " Now.")
    assert ">stale<" in as_user("vic").get(item_url).content.decode()
    review_page = as_user("vic").get(reverse("ui:review", args=["AEB", review.pk])).content
    assert b"changed since it was signed" in review_page
    impact = as_user("vic").get(reverse("ui:impact", args=["AEB"])).content.decode()
    assert "FSR-001: ada approve as approved" in impact


def test_a_comment_mentions_and_e_mails(as_user, people, demo, django_capture_on_commit_callbacks):
    people["ada"].email = "ada@example.com"
    people["ada"].save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user("eli").post(
            reverse("ui:item-comment", args=["AEB", "requirement:FSR-001"]),
            {"text": "@ada is 1.5 s right?", "back": "requirement"},
        )
    assert response.status_code == 302
    assert response["Location"] == reverse("ui:requirement", args=["AEB", "FSR-001"])
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    fragment = as_user("vic").get(reverse("ui:item-reviews", args=["AEB", "requirement:FSR-001"]))
    assert "@ada is 1.5 s right?" in fragment.content.decode()
    empty = as_user("eli").post(
        reverse("ui:item-comment", args=["AEB", "requirement:FSR-001"]), {"text": ""}
    )
    assert empty.status_code == 400


def test_the_edit_form_previews_the_impact(as_user, demo):
    url = reverse("ui:requirement-impact", args=["AEB", "FSR-001"])
    same = as_user("erin").get(url).content.decode()
    assert "nothing turns suspect or stale" in same
    changed = as_user("erin").get(url, {"text": "Something else entirely."}).content.decode()
    assert "This change makes" in changed and "turns suspect" in changed
    page = as_user("erin").get(reverse("ui:requirement", args=["AEB", "FSR-001"])).content
    assert url.encode() in page
