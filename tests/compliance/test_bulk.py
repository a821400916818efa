"""Bulk creation with history rows: the same rows simple_history's bulk creation writes, and
no id of a deleted row handed out again."""

from __future__ import annotations

import pytest
from django.db import transaction

from compliance.bulk import create_with_history
from compliance.models import Requirement

pytestmark = pytest.mark.django_db


def _new(project, code, **fields):
    return Requirement(project=project, code=code, kind="FSR", title=code, **fields)


def test_rows_and_history_match_what_the_orm_writes(project, engineer):
    with transaction.atomic():
        made = create_with_history(
            [_new(project, "FSR-1", attributes={"Status": "NEW"}), _new(project, "FSR-2")],
            Requirement,
            engineer,
        )
    assert all(r.pk for r in made)
    first = Requirement.objects.get(pk=made[0].pk)
    assert (first.code, first.attributes, first.version) == ("FSR-1", {"Status": "NEW"}, 1)
    assert first.updated_at is not None
    history = first.history.get()
    assert (history.history_type, history.history_user, history.attributes) == (
        "+",
        engineer,
        {"Status": "NEW"},
    )
    # A later ORM write continues the same table without a clash.
    orm = Requirement.objects.create(project=project, code="FSR-3", kind="FSR")
    assert orm.pk > made[1].pk


def test_a_deleted_rows_id_is_not_given_again(project, engineer):
    with transaction.atomic():
        (gone,) = create_with_history([_new(project, "FSR-1")], Requirement, engineer)
    last = Requirement.objects.create(project=project, code="FSR-2", kind="FSR")
    last_pk = last.pk
    last.delete()
    Requirement.objects.filter(pk=gone.pk).delete()
    with transaction.atomic():
        (again,) = create_with_history([_new(project, "FSR-9")], Requirement, engineer)
    assert again.pk > last_pk
