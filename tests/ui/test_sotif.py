"""The SOTIF page: triggering conditions, criteria with their targets, adding a criterion."""

import math
import re

from compliance.models import AcceptanceCriterion


def test_the_demo_criteria_show_their_targets(as_user, demo):
    page = as_user("vic").get("/p/AEB/sotif/").content.decode()
    assert "TC-01" in page and "Low sun glare" in page
    # AC-02 allows no failure: the success-run count, ln(1 - C) / ln(1 - p) clean cases
    ac = AcceptanceCriterion.objects.get(project=demo, code="AC-02")
    assert ac.tolerated_failures == 0 and ac.unit == "cases"
    cases = math.ceil(math.log(1 - ac.confidence) / math.log(1 - ac.allowed_failure_probability))
    row = re.search(r"<tr>(?:(?!</tr>).)*AC-02.*?</tr>", page, re.S).group(0)
    assert f'<td class="num">{cases:,} cases</td>' in row  # grouped, with its unit
    assert "New acceptance criterion" not in page


def test_an_engineer_adds_a_criterion_from_the_annex_c_breakdown(as_user, demo):
    response = as_user("erin").post(
        "/p/AEB/sotif/criteria/new/",
        {
            "code": "AC-09",
            "description": "Annex C example",
            "unit": "h",
            "acceptable_harm_rate": "1e-8",
            "p_exposure": "0.05",
            "p_not_controllable": "0.1",
            "p_severe": "0.5",
            "confidence": "0.95",
            "tolerated_failures": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    criterion = AcceptanceCriterion.objects.get(project=demo, code="AC-09")
    assert round(criterion.validation_target) == 748_933  # 7.489e5 h


def test_a_bad_probability_is_refused_with_a_message(as_user, demo):
    response = as_user("erin").post(
        "/p/AEB/sotif/criteria/new/",
        {
            "code": "AC-10",
            "description": "x",
            "unit": "h",
            "acceptable_harm_rate": "1e-8",
            "p_exposure": "1.5",
            "p_not_controllable": "0.1",
            "p_severe": "0.5",
            "confidence": "0.95",
            "tolerated_failures": "0",
        },
    )
    assert response.status_code == 400
    assert not AcceptanceCriterion.objects.filter(project=demo, code="AC-10").exists()


def test_a_viewer_may_not_add(as_user, demo):
    assert as_user("vic").post("/p/AEB/sotif/criteria/new/", {}).status_code == 403
