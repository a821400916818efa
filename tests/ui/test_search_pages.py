"""The failure search pages: start a search, read its evaluations, the failure boundary and
the worst cases, promote a found failure to a regression case; a search is labelled as one and
never counts toward a verdict."""

from __future__ import annotations

import pytest
from django.urls import reverse

from evidence.models import LogEntry
from validation.models import FailureSearch, Verdict

#: Stopped targets at speed with little gap: AC-02 (min TTC above 1 s) fails there.
RANGES = '{"ego_speed": [40, 50], "initial_gap": [10, 20]}'


def _start(client, **fields):
    data = {
        "criterion": "AC-02",
        "scenario": "CCRs",
        "campaign": "AEB-demo",
        "budget": 12,
        "seed": 3,
        "sampler": "random",
        "ranges": RANGES,
        **fields,
    }
    return client.post(reverse("ui:search-new", args=["AEB"]), data)


@pytest.fixture
def found(as_user, demo_run):
    response = _start(as_user("erin"))
    assert response.status_code == 302, response.content.decode()[:2000]
    return FailureSearch.objects.get()


def test_an_engineer_starts_a_search_and_reads_its_boundary_and_worst_cases(
    as_user, demo_run, found
):
    assert found.kind == "search" and found.failures > 0
    verdicts = list(Verdict.objects.filter(run=demo_run).values_list("trials", flat=True))
    page = as_user("vic").get(reverse("ui:search", args=["AEB", found.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "This search never counts toward a verdict." in html
    assert "search, not evidence" in html
    assert f"{found.summary['evaluated']} cases, <strong>{found.failures} failing</strong>" in html
    worst = found.summary["worst"][0]
    assert worst["case_id"] in html and 'id="boundary"' in html
    assert "Failing cases span" in html
    assert html.count("<tr>") >= 12  # every evaluation is listed
    assert 'id="promote"' not in html  # a viewer may not promote
    # The search judged nothing: the run's verdicts are as they were.
    assert list(Verdict.objects.filter(run=demo_run).values_list("trials", flat=True)) == verdicts
    listing = as_user("vic").get(reverse("ui:searches", args=["AEB"])).content.decode()
    assert f"search {found.pk}</a>" in listing and "Search runs are not evidence." in listing
    assert "Start the search" not in listing  # a viewer may not start one


def test_a_failure_is_promoted_to_a_regression_case(as_user, demo_run, found):
    failing = next(e["case_id"] for e in found.evaluations if e["failing"])
    client = as_user("erin")
    assert (
        'id="promote"' in client.get(reverse("ui:search", args=["AEB", found.pk])).content.decode()
    )
    before = LogEntry.objects.count()
    url = reverse("ui:search-promote", args=["AEB", found.pk])
    response = client.post(url, {"cases": [failing], "campaign": "AEB-demo"})
    assert response.status_code == 302
    found.refresh_from_db()
    assert found.promoted == [failing]
    assert LogEntry.objects.count() == before + 1
    space = demo_run.campaign.spaces.get(name="CCRs-regression")
    assert len(space.cases) == 1
    # Nothing picked: the form says so and nothing changes.
    response = client.post(url, {"campaign": "AEB-demo"})
    assert (
        response.status_code == 400
        and "Pick at least one failing case." in response.content.decode()
    )
    assert LogEntry.objects.count() == before + 1


def test_bad_input_is_explained_and_records_nothing(as_user, demo_run):
    before = LogEntry.objects.count()
    response = _start(as_user("erin"), ranges="{ego_speed: [1, 2]")
    assert response.status_code == 400
    assert "The ranges are not JSON" in response.content.decode()
    response = _start(as_user("erin"), ranges='{"ego_speed": [60, 70]}')
    assert response.status_code == 400  # AC-02 speaks of 20 to 50 km/h only
    assert "range of ego_speed lies outside the criterion&#x27;s scope" in response.content.decode()
    assert not FailureSearch.objects.exists() and LogEntry.objects.count() == before
    assert _start(as_user("vic")).status_code == 403


# The list: its searches in one query and the start form's criteria, scenarios and campaigns;
# a search: itself with its evaluations and the promote form's campaigns.
@pytest.mark.parametrize("name,queries", [("ui:searches", 11), ("ui:search", 9)])
def test_the_search_pages_read_a_pinned_number_of_queries(
    as_user, found, django_assert_num_queries, name, queries
):
    client = as_user("sam")  # may run: the forms are on the pages
    assert _start(client, seed=4).status_code == 302  # two searches: one query still
    args = ["AEB"] if name == "ui:searches" else ["AEB", found.pk]
    with django_assert_num_queries(queries):
        assert client.get(reverse(name, args=args)).status_code == 200
