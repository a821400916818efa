"""A review of the demo project opened by its safety manager, for the browser tests."""

from __future__ import annotations


def open_review(reviewer, keys, title="FSC review"):
    """A functional safety concept review by ``sam`` of ``keys``, naming ``reviewer``."""
    from django.contrib.auth import get_user_model

    from compliance import review_sessions as rs
    from projects.models import Project

    return rs.session_open(
        user=get_user_model().objects.get(username="sam"),
        project=Project.objects.get(key="AEB"),
        title=title,
        measure="functional_safety_concept",
        reviewers=[reviewer],
        keys=keys,
    )
