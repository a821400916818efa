"""Review sessions with electronic signatures: who may sign what, the password asked again (and
counted against the login limit), the independence Table 1 asks at signing, signatures bound to
the content digest (stale after an edit), revocations as new entries, comments with mentions
told by e-mail, and ``verify_ledger`` catching a review row edited in the database."""

import time

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import RequestFactory

from compliance import review_sessions as rs
from compliance import services
from compliance.models import (
    Approval,
    Comment,
    Requirement,
    ReviewSession,
    Signature,
    SignatureRevocation,
)
from evidence.models import LogEntry
from evidence.verification import statement_of, verify_project

pytestmark = pytest.mark.django_db

FSC = "functional_safety_concept"


def request_for(user=None):
    request = RequestFactory().post("/sign/", REMOTE_ADDR="10.0.0.7")
    request.session = SessionStore()
    request.user = user
    return request


@pytest.fixture
def people(project, make_member):
    made = {
        "erin": make_member(project, "engineer", "erin", "AEB", "ADAS", recorded=True),
        "eli": make_member(project, "engineer", "eli", "AEB", "ADAS", recorded=True),
        "sam": make_member(project, "safety_manager", "sam", "Safety", "ADAS", recorded=True),
        "ada": make_member(project, "assessor", "ada", "FSA", "Independent", recorded=True),
        "vic": make_member(project, "viewer", "vic", "AEB", "ADAS", recorded=True),
    }
    for name, user in made.items():
        user.email = f"{name}@example.com"
        user.save(update_fields=["email"])
    return made


@pytest.fixture
def case(project, people):
    """A goal at ASIL D and FSR-001 (ASIL D) written by erin, derived from it."""
    erin = people["erin"]
    hazard = services.hazard_create(user=erin, project=project, code="H-01", title="Late")
    situation = services.situation_create(
        user=erin, project=project, code="OS-01", description="Motorway"
    )
    event = services.hazardous_event_save(
        user=erin,
        project=project,
        code="HE-01",
        hazard=hazard,
        situation=situation,
        severity="S3",
        exposure="E4",
        controllability="C3",
        severity_rationale="s",
        exposure_rationale="e",
        controllability_rationale="c",
    )
    goal = services.safety_goal_save(
        user=erin, project=project, code="SG-01", text="Avoid", events=[event]
    )
    fsr = services.requirement_create(
        user=erin, project=project, code="FSR-001", kind="FSR", text="Brake.", asil="D"
    )
    services.link_create(
        user=erin, project=project, source=fsr, kind="derives-from", target_goal=goal
    )
    return {"goal": goal, "fsr": fsr}


@pytest.fixture
def session(project, people, case, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return rs.session_open(
            user=people["sam"],
            project=project,
            title="FSC review",
            measure=FSC,
            reviewers=[people["ada"], people["sam"], people["eli"], people["erin"]],
            keys=["requirement:FSR-001", "goal:SG-01"],
        )


def item(session, key="requirement:FSR-001"):
    return session.items.get(key=key)


def sign(
    user, session, decision="approve", meaning="approved", comment="", password="pw", key=None
):
    return rs.signature_sign(
        user=user,
        request=request_for(user),
        item=item(session, key or "requirement:FSR-001"),
        decision=decision,
        meaning=meaning,
        comment=comment,
        password=password,
    )


def test_opening_a_review_fixes_each_item_and_tells_the_reviewers(session, people, project):
    fsr = item(session)
    assert fsr.version == 1 and fsr.asil == "D" and fsr.required_independence == "I3"
    assert item(session, "goal:SG-01").required_independence == "I3"
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == [
        "ada@example.com",
        "eli@example.com",
        "erin@example.com",
        "sam@example.com",
    ]
    assert "FSC review" in mail.outbox[0].subject
    predicate = statement_of(bytes(session.entry.envelope))["predicate"]
    assert predicate["items"]["requirement:FSR-001"] == fsr.digest
    assert predicate["reviewers"] == ["ada", "eli", "erin", "sam"]


def test_only_a_role_that_reviews_opens_one_and_names_signers(project, people, case):
    with pytest.raises(PermissionDenied):
        rs.session_open(
            user=people["erin"],
            project=project,
            title="x",
            measure=FSC,
            reviewers=[people["ada"]],
            keys=["requirement:FSR-001"],
        )
    with pytest.raises(ValidationError) as refused:
        rs.session_open(
            user=people["sam"],
            project=project,
            title="x",
            measure=FSC,
            reviewers=[people["vic"]],
            keys=["requirement:FSR-404"],
        )
    assert "vic" in str(refused.value.message_dict["reviewers"])
    assert ReviewSession.objects.count() == 0


def test_an_independent_assessor_signs_and_the_ledger_says_what(session, people, project):
    signature = sign(people["ada"], session)
    assert signature.achieved_independence == "I3" and signature.required_independence == "I3"
    assert signature.reauthentication == "password"
    predicate = statement_of(bytes(signature.entry.envelope))["predicate"]
    assert predicate["digest"] == item(session).digest
    assert predicate["decision"] == "approve" and predicate["meaning"] == "approved"
    assert predicate["membership"]["index"] is not None
    assert verify_project(project).ok


@pytest.mark.parametrize(
    ("who", "why"),
    [
        ("erin", "reviewer is the author"),  # wrote FSR-001
        ("eli", "needs I3"),  # same team: I1
        ("sam", "needs I3"),  # another team, same unit: I2
    ],
)
def test_signing_below_the_independence_table_1_asks_is_refused(session, people, who, why):
    # An engineer may sign as reviewed, not as approved: that needs a role that reviews.
    with pytest.raises(PermissionDenied, match="may not sign as approved"):
        sign(people["eli"], session, meaning="approved")
    before = LogEntry.objects.count()
    with pytest.raises(ValidationError) as refused:
        sign(people[who], session, meaning="reviewed")
    assert why in str(refused.value)
    assert Signature.objects.count() == 0 and LogEntry.objects.count() == before


def test_an_author_signs_as_authored_and_nobody_else_may(session, people):
    authored = sign(people["erin"], session, meaning="authored")
    assert authored.meaning == "authored"
    with pytest.raises(ValidationError, match="only an author"):
        sign(people["sam"], session, meaning="authored")
    with pytest.raises(PermissionDenied, match="may not sign as authored"):
        sign(people["ada"], session, meaning="authored")  # an assessor's role does not edit


def test_a_reviewer_not_named_cannot_sign(project, people, case, make_member):
    other = rs.session_open(
        user=people["sam"],
        project=project,
        title="Only ada",
        measure=FSC,
        reviewers=[people["ada"]],
        keys=["requirement:FSR-001"],
    )
    with pytest.raises(PermissionDenied, match="not a reviewer named"):
        sign(people["sam"], other)
    assert not Signature.objects.exists()


def test_a_wrong_password_signs_nothing_and_counts_against_the_login_limit(session, people):
    ada = people["ada"]
    before = LogEntry.objects.count()
    with pytest.raises(ValidationError, match="not your password"):
        sign(ada, session, password="guess")
    assert not Signature.objects.exists() and LogEntry.objects.count() == before
    assert AccessAttempt.objects.get(username="ada").failures_since_start == 1
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        with pytest.raises((ValidationError, PermissionDenied)):
            sign(ada, session, password="guess")
    with pytest.raises(PermissionDenied, match="Too many wrong passwords"):
        sign(ada, session, password="pw")  # the right one, during the lockout
    assert not Signature.objects.exists()


def test_a_rejection_needs_a_comment_and_is_recorded_with_it(session, people):
    with pytest.raises(ValidationError) as refused:
        sign(people["ada"], session, decision="reject")
    assert "comment" in refused.value.message_dict
    rejected = sign(people["ada"], session, decision="reject", comment="No FTTI stated.")
    predicate = statement_of(bytes(rejected.entry.envelope))["predicate"]
    assert predicate["decision"] == "reject" and predicate["comment"] == "No FTTI stated."


def test_a_single_sign_on_user_signs_only_right_after_signing_in_again(session, people):
    ada = people["ada"]
    ada.set_unusable_password()
    ada.save()
    request = request_for(ada)
    request.session[rs.SSO_AUTHENTICATED_AT] = time.time() - rs.REAUTH_MAX_AGE - 5
    signing = {
        "user": ada,
        "request": request,
        "item": item(session),
        "decision": "approve",
        "meaning": "approved",
    }
    with pytest.raises(ValidationError, match="single sign-on"):
        rs.signature_sign(**signing)
    request.session[rs.SSO_AUTHENTICATED_AT] = time.time()
    assert rs.signature_sign(**signing).reauthentication == "single sign-on"


def test_an_edit_after_signing_makes_the_signature_stale_and_closes_the_item(
    session, people, case, project
):
    signature = sign(people["ada"], session)
    states = rs.signature_states(project, Signature.objects.select_related("item", "revocation"))
    assert states[signature.pk].label == "current"
    services.requirement_update(user=people["erin"], requirement=case["fsr"], text="Brake hard.")
    states = rs.signature_states(project, Signature.objects.select_related("item", "revocation"))
    assert states[signature.pk].label == "stale"
    assert "changed since it was signed" in states[signature.pk].reason
    with pytest.raises(ValidationError, match="changed"):
        sign(people["ada"], session, decision="reject", comment="late")


def test_a_revocation_is_a_new_entry_with_its_reason(session, people, project):
    signature = sign(people["ada"], session)
    with pytest.raises(ValidationError):
        rs.signature_revoke(user=people["ada"], signature=signature, reason=" ")
    with pytest.raises(PermissionDenied):  # not the signer, and an engineer may not review
        rs.signature_revoke(user=people["eli"], signature=signature, reason="no")
    revocation = rs.signature_revoke(user=people["ada"], signature=signature, reason="Misread.")
    predicate = statement_of(bytes(revocation.entry.envelope))["predicate"]
    assert predicate["reason"] == "Misread." and predicate["signature"] == signature.entry.index
    signature.refresh_from_db()
    assert signature.decision == "approve"  # the signature row itself is untouched
    states = rs.signature_states(project, Signature.objects.select_related("item", "revocation"))
    assert states[signature.pk].label == "revoked"
    with pytest.raises(ValidationError, match="already"):
        rs.signature_revoke(user=people["sam"], signature=signature, reason="again")
    assert SignatureRevocation.objects.count() == 1
    assert verify_project(project).ok


def test_a_closed_review_takes_no_signature(session, people):
    rs.session_close(user=people["sam"], session=session)
    with pytest.raises(ValidationError, match="closed"):
        sign(people["ada"], session)


# --- A database insider --------------------------------------------------------------------


def _problems(project):
    return "\n".join(verify_project(project).problems)


def test_verify_ledger_catches_a_signature_row_edited_in_the_database(session, people, project):
    rejected = sign(people["ada"], session, decision="reject", comment="No FTTI.")
    assert verify_project(project).ok
    Signature.objects.filter(pk=rejected.pk).update(decision="approve", comment="")
    problems = _problems(project)
    assert f"signature {rejected.pk} disagrees with ledger entry {rejected.entry.index}" in problems
    assert "comment, decision" in problems


def test_verify_ledger_catches_a_signature_moved_onto_new_content(session, people, project, case):
    signature = sign(people["ada"], session)
    services.requirement_update(user=people["erin"], requirement=case["fsr"], text="Brake hard.")
    fresh = rs.item_digest(
        "requirement:FSR-001", Requirement.objects.get(code="FSR-001").snapshot()
    )
    Signature.objects.filter(pk=signature.pk).update(digest=fresh)
    assert f"signature {signature.pk} disagrees" in _problems(project)


def test_verify_ledger_catches_an_edited_revocation_and_review(session, people, project):
    signature = sign(people["ada"], session)
    revocation = rs.signature_revoke(user=people["ada"], signature=signature, reason="Misread.")
    SignatureRevocation.objects.filter(pk=revocation.pk).update(reason="Asked to.")
    session.reviewers.add(people["vic"])
    problems = _problems(project)
    assert f"revocation {revocation.pk} disagrees" in problems
    assert f"review {session.pk} disagrees" in problems and "reviewers" in problems


def test_verify_ledger_catches_an_edited_approval(project, people, case):
    approval = services.approval_record(
        user=people["ada"],
        project=project,
        measure="hara",
        work_product="HARA",
        author=people["erin"],
        asil="D",
        outcome="not_confirmed",
        findings="E4 unjustified",
    )
    assert verify_project(project).ok
    Approval.objects.filter(pk=approval.pk).update(outcome="confirmed", findings="")
    assert f"approval {approval.pk} disagrees" in _problems(project)
    Approval.objects.filter(pk=approval.pk).update(
        outcome="not_confirmed", findings="E4 unjustified"
    )
    assert verify_project(project).ok
    Approval.objects.filter(pk=approval.pk).update(cited={"event:HE-01": "0" * 64})
    assert f"approval {approval.pk} cites work products other than" in _problems(project)


def test_verify_ledger_catches_an_approved_digest_moved_onto_new_content(project, people, case):
    fsr = services.requirement_review(
        user=people["sam"], requirement=case["fsr"], status="approved"
    )
    fsr = services.requirement_update(user=people["erin"], requirement=fsr, text="Brake hard.")
    assert fsr.status == "in_review" and verify_project(project).ok
    # The insider makes the old approval read as an approval of the new text.
    from compliance.reviews import requirement_digest

    Requirement.objects.filter(pk=fsr.pk).update(
        approved_digest=requirement_digest(fsr), status="approved"
    )
    assert "requirement FSR-001: its approved digest" in _problems(project)


# --- Comments ------------------------------------------------------------------------------


def test_a_comment_mentions_members_and_tells_them_by_e_mail(
    project, people, case, outsider, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        comment = rs.comment_add(
            user=people["eli"],
            project=project,
            key="requirement:FSR-001",
            text="@ada please check the FTTI; @outsider and @eli and @nobody are not told.",
        )
    assert [u.username for u in comment.mentions.all()] == ["ada"]
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert "eli mentioned you on FSR-001" in mail.outbox[0].subject
    assert "please check the FTTI" in mail.outbox[0].body
    assert statement_of(bytes(comment.entry.envelope))["predicate"]["mentions"] == ["ada"]


def test_a_comment_needs_text_and_a_work_product_of_the_project(project, people, case):
    for key, text in (("requirement:FSR-001", "  "), ("requirement:NOPE-1", "hi")):
        with pytest.raises(ValidationError):
            rs.comment_add(user=people["eli"], project=project, key=key, text=text)
    assert not Comment.objects.exists()


# --- Impact analysis -----------------------------------------------------------------------


def _derived(project, people, case):
    """TSR-001 derived from FSR-001, verified at FSR-001 v1; FSR-001 approved and confirmed."""
    erin, sam = people["erin"], people["sam"]
    tsr = services.requirement_create(
        user=erin, project=project, code="TSR-001", kind="TSR", text="Apply 6 m/s2.", asil="D"
    )
    services.link_create(
        user=erin,
        project=project,
        source=tsr,
        kind="derives-from",
        target_requirement=case["fsr"],
    )
    services.verification_record(
        user=erin, project=project, requirement=case["fsr"], method="test", result="pass"
    )
    fsr = services.requirement_review(user=sam, requirement=case["fsr"], status="approved")
    services.approval_record(
        user=people["ada"],
        project=project,
        measure=FSC,
        work_product="FSC",
        author=erin,
        asil="D",
        outcome="confirmed",
    )
    return fsr


def test_the_preview_names_what_the_change_will_make_suspect_or_stale(
    project, people, case, session
):
    from compliance import impact
    from compliance.models import TraceLink, Verification

    fsr = _derived(project, people, case)
    sign(people["ada"], session)
    assert not impact.preview(project, fsr, {"text": fsr.text}).changes_content
    preview = impact.preview(project, fsr, {"text": "Brake harder."})
    groups = preview.by_group()
    assert sorted(e.label for e in groups["links"]) == [
        "FSR-001 derives-from SG-01",
        "TSR-001 derives-from FSR-001",
    ]
    assert [e.label for e in groups["verifications"]] == ["test of v1: pass"]
    assert [e.what for e in groups["approval"]] == ["goes back to review"]
    assert [e.label for e in groups["reviews"]] == [
        "Confirmation review: functional safety concept: FSC"
    ]
    assert [e.label for e in groups["signatures"]] == ["ada: approve as approved"]
    assert [e.label for e in groups["open reviews"]] == ["FSC review"]
    assert [e.label for e in groups["safety case"]] == ["goal SG-01"]
    assert preview.count == 8 and preview.summary == "This change makes 8 items suspect or stale."

    # What the preview announced is what the save does.
    services.requirement_update(user=people["erin"], requirement=fsr, text="Brake harder.")
    assert TraceLink.objects.filter(suspect=True).count() == len(groups["links"])
    assert Verification.objects.filter(stale=True).count() == len(groups["verifications"])
    left = impact.open_impact(project)
    assert len(left["links"]) == 2 and len(left["verifications"]) == 1
    assert [r.code for r in left["requirements"]] == ["FSR-001"]
    assert [c.approval.work_product for c in left["approvals"]] == ["FSC"]
    assert [s.signature.signer.username for s in left["signatures"]] == ["ada"]
    assert left["count"] == 6
    # The next preview counts only what is not suspect or stale already.
    again = impact.preview(project, Requirement.objects.get(code="FSR-001"), {"text": "Stop."})
    assert sorted(again.by_group()) == ["safety case"]


# --- In the safety case and the evidence pack ----------------------------------------------


def test_signatures_show_in_the_gsn_and_the_pdf_and_turn_stale_there(
    project, people, case, session
):
    from reports import gsn
    from reports import selectors as report_selectors
    from tests.compliance.test_review_bindings import pack_text

    sign(people["ada"], session)
    rejected = sign(people["ada"], session, decision="reject", comment="Why I3?", key="goal:SG-01")
    revoked = rs.signature_revoke(user=people["ada"], signature=rejected, reason="Misread.")
    snapshot = report_selectors.case_snapshot(user=people["sam"], project=project)
    assert [(r.key, r.state) for r in snapshot.signatures] == [
        ("requirement:FSR-001", "current"),
        ("goal:SG-01", "revoked"),
    ]
    case_ = gsn.build(snapshot)
    nodes = [n for n in case_.nodes.values() if n.id.startswith("C:") and "signature" in n.id]
    assert [n.text for n in nodes] == ["ada signed approve as approved (I3 of I3) in FSC review"]
    services.baseline_freeze(user=people["sam"], project=project, name="B1")
    text = pack_text(project, people["sam"])
    assert "Review signatures" in text and "REVOKED (Misread.)" in text
    assert "ada signed approve as approved (I3 of I3) in FSC review" in text  # the GSN's

    services.requirement_update(user=people["erin"], requirement=case["fsr"], text="Brake hard.")
    snapshot = report_selectors.case_snapshot(user=people["sam"], project=project)
    assert snapshot.signatures[0].state == "stale"
    (node,) = [n for n in gsn.build(snapshot).nodes.values() if n.id.endswith(":signature")]
    assert node.text.startswith("STALE signature") and node.status == "stale"
    assert revoked.entry.index > rejected.entry.index
