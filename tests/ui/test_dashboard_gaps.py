"""The dashboard's gap counts, the costliest read of the page, are counted once per state of
the log: kept while the log's head is the one they were counted at, counted again after any
recorded change; with ``SAFECASE_DASHBOARD_MAX_AGE`` they may lag a growing log that long, and
the page then says at which entry they were counted."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from compliance.models import TraceLink
from compliance.services import requirement_update


def _dashboard(client) -> str:
    response = client.get(reverse("ui:dashboard", args=["AEB"]))
    assert response.status_code == 200
    return response.content.decode()


def _suspect(html: str) -> int:
    return int(re.search(r"<strong>(\d+)</strong> suspect link", html).group(1))


def _make_a_link_suspect(demo, people) -> None:
    """A recorded change: a parent's new text makes its child's link suspect."""
    link = TraceLink.objects.filter(
        project=demo, target_requirement__isnull=False, suspect=False
    ).first()
    requirement_update(user=people["erin"], requirement=link.target_requirement, text="Changed.")


def test_the_counts_are_counted_again_after_every_recorded_change(
    as_user, demo, people, django_assert_max_num_queries
):
    client = as_user("vic")
    first = _dashboard(client)
    before = _suspect(first)
    assert 'id="gaps-lag"' not in first
    with django_assert_max_num_queries(20):  # the gaps came from the cache (31 counted)
        assert _suspect(_dashboard(client)) == before
    # a change that bypassed the services, without an entry, does not show: the counts stand
    # for the log's head (the ledger's check is what finds such an edit)
    TraceLink.objects.filter(project=demo).update(suspect=True)
    assert _suspect(_dashboard(client)) == before
    TraceLink.objects.filter(project=demo).update(suspect=False)
    _make_a_link_suspect(demo, people)
    after = _dashboard(client)
    now = TraceLink.objects.filter(project=demo, suspect=True).count()
    assert now != before and _suspect(after) == now and 'id="gaps-lag"' not in after


def test_with_a_max_age_the_counts_may_lag_a_growing_log_and_say_so(
    as_user, demo, people, settings, monkeypatch
):
    import time

    from evidence.selectors import log_size

    settings.SAFECASE_DASHBOARD_MAX_AGE = 30
    client = as_user("vic")
    before = _suspect(_dashboard(client))
    counted_at = log_size(project=demo)
    _make_a_link_suspect(demo, people)
    lagging = _dashboard(client)
    assert _suspect(lagging) == before
    lag = log_size(project=demo) - counted_at
    assert lag >= 1
    assert (
        f"The gaps were counted when the ledger held {counted_at} entries; the {lag} recorded "
        "since are counted within 30 s." in lagging
    )
    later = time.time() + 31
    monkeypatch.setattr(time, "time", lambda: later)
    counted = _dashboard(client)
    now = TraceLink.objects.filter(project=demo, suspect=True).count()
    assert now > before and _suspect(counted) == now and 'id="gaps-lag"' not in counted


@pytest.mark.parametrize("max_age", [0, 30])
def test_a_log_that_is_not_ahead_of_the_counts_is_counted_again(
    as_user, demo, people, settings, max_age
):
    """Counts kept for a longer log (another database's, say) are never taken for this one."""
    from django.core.cache import cache

    from evidence.selectors import log_head

    settings.SAFECASE_DASHBOARD_MAX_AGE = max_age
    client = as_user("vic")
    before = _suspect(_dashboard(client))
    size, root = log_head(project=demo)
    key = f"ui-dashboard-gaps:{demo.pk}"
    _size, _root, counted, gaps = cache.get(key)
    cache.set(key, (size + 5, root, counted, {**gaps, "suspect_links": before + 7}))
    assert _suspect(_dashboard(client)) == before
    cache.set(key, (size, b"\0" * 32, counted, {**gaps, "suspect_links": before + 7}))
    assert _suspect(_dashboard(client)) == before


def test_while_one_process_counts_again_the_others_show_the_kept_counts(
    as_user, demo, people, settings, monkeypatch
):
    """With a maximum age, once it has passed one view counts again; a view meanwhile (another
    worker's) shows the kept counts and says at which entry they were counted, rather than
    counting the same thing at once. A counter that never finishes holds the others back for
    ``RECOUNT_SECONDS`` at most."""
    import time

    from django.core.cache import cache

    from compliance import navigation
    from evidence.selectors import log_size
    from ui import selectors

    settings.SAFECASE_DASHBOARD_MAX_AGE = 30
    client = as_user("vic")
    before = _suspect(_dashboard(client))
    counted_at = log_size(project=demo)
    _make_a_link_suspect(demo, people)
    now = TraceLink.objects.filter(project=demo, suspect=True).count()
    counts = []
    real = navigation.dashboard_gaps
    monkeypatch.setattr(navigation, "dashboard_gaps", lambda **kw: counts.append(1) or real(**kw))
    started = time.time()
    monkeypatch.setattr(time, "time", lambda: started + 31)
    # another worker took the count: this view shows what was kept, and says so
    assert cache.add(f"ui-dashboard-gaps:{demo.pk}:counting", True, 60)
    lagging = _dashboard(client)
    assert _suspect(lagging) == before and not counts
    assert f"counted when the ledger held {counted_at} entries" in lagging
    assert "since are being counted now." in lagging  # older than 30 s: it says why
    # the other worker never finished: past the wait, this view counts
    monkeypatch.setattr(time, "time", lambda: started + 31 + selectors.RECOUNT_SECONDS)
    counted = _dashboard(client)
    assert counts == [1] and _suspect(counted) == now and 'id="gaps-lag"' not in counted


def test_the_view_that_counts_again_lets_the_next_count_happen(
    as_user, demo, people, settings, monkeypatch
):
    """The marker of a count under way goes with the count, whether it finished or failed."""
    import time

    from django.core.cache import cache

    from compliance import navigation

    settings.SAFECASE_DASHBOARD_MAX_AGE = 30
    client = as_user("vic")
    _dashboard(client)
    _make_a_link_suspect(demo, people)
    started = time.time()
    monkeypatch.setattr(time, "time", lambda: started + 31)

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(navigation, "dashboard_gaps", broken)
    with pytest.raises(RuntimeError):
        _dashboard(client)
    assert cache.get(f"ui-dashboard-gaps:{demo.pk}:counting") is None
    monkeypatch.undo()
    settings.SAFECASE_DASHBOARD_MAX_AGE = 30
    monkeypatch.setattr(time, "time", lambda: started + 31)
    now = TraceLink.objects.filter(project=demo, suspect=True).count()
    assert _suspect(_dashboard(client)) == now
