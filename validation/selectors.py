"""Reads of the validation app: scenarios, campaigns, runs, case results and verdicts.

Every function reads one project's rows: the project the view resolved for the user with
:func:`projects.permissions.get_project_for_user`, or a campaign or run found through it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping

import numpy as np
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from compliance import scope as criterion_scope
from compliance.interchange.common import paused_gc
from compliance.models import AcceptanceCriterion
from projects.models import Project
from validation.models import (
    Campaign,
    CaseResult,
    Comparison,
    FailureSearch,
    ParameterSpace,
    RecordedDrive,
    RecordedEvent,
    Run,
    RunStatus,
    Scenario,
    ScenarioCatalog,
    Verdict,
)

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
KPI_POINTS = 2000  # the most cases a plot draws; beyond that every n-th case is drawn


# --- What the web pages read -------------------------------------------------------------------


def scenario_choices(*, project: Project) -> QuerySet[Scenario]:
    return Scenario.objects.filter(project=project)


def parameter_space_choices(*, project: Project) -> QuerySet[ParameterSpace]:
    return (
        ParameterSpace.objects.filter(scenario__project=project)
        .select_related("scenario")
        .order_by("scenario__name", "name")
    )


def campaign_exists(*, project: Project, name: str) -> bool:
    return Campaign.objects.filter(project=project, name=name).exists()


def campaign_rows(*, project: Project) -> list[Campaign]:
    """The campaigns by name, each with its number of runs and its last run's id, status and
    executor (the one it ran on, which may differ from the campaign's default)."""
    latest = Run.objects.filter(campaign=OuterRef("pk")).order_by("-created_at", "-pk")
    return list(
        Campaign.objects.filter(project=project)
        .annotate(
            run_count=Count("runs", distinct=True),
            last_status=Subquery(latest.values("status")[:1]),
            last_run=Subquery(latest.values("pk")[:1]),
            last_executor=Subquery(latest.values("executor")[:1]),
        )
        .order_by("name")
    )


def campaign_details(*, project: Project) -> QuerySet[Campaign]:
    """The campaigns with their model, dataset and author, to find one by id."""
    return Campaign.objects.filter(project=project).select_related("model", "dataset", "created_by")


def campaign_spaces(*, campaign: Campaign):
    return campaign.spaces.select_related("scenario").order_by("scenario__name")


def campaign_criteria(*, campaign_id: int) -> QuerySet[AcceptanceCriterion]:
    return AcceptanceCriterion.objects.filter(campaigns=campaign_id).order_by("code")


def campaign_summaries(*, project: Project) -> list[tuple[Campaign, list[Verdict]]]:
    """Every campaign with the verdicts of its last successful run (empty when none)."""
    last = (
        Run.objects.filter(campaign=OuterRef("pk"), status=RunStatus.SUCCEEDED)
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )
    campaigns = list(
        Campaign.objects.filter(project=project).annotate(last_run=Subquery(last)).order_by("name")
    )
    by_run: dict[int, list[Verdict]] = defaultdict(list)
    run_ids = [c.last_run for c in campaigns if c.last_run]
    if run_ids:
        for verdict in (
            Verdict.objects.filter(run_id__in=run_ids)
            .select_related("criterion")
            .order_by("criterion__code")
        ):
            by_run[verdict.run_id].append(verdict)
    return [(c, by_run.get(c.last_run, [])) for c in campaigns]


def criteria_without_cases(*, project: Project) -> dict:
    """The gap analysis's row for validation: acceptance criteria that no finished run of any
    campaign judged on a single case (a verdict's trials are the cases in the criterion's
    scope), as ``count`` and ``items`` (id and code), like the gaps of
    :func:`compliance.selectors.gap_analysis`."""
    judged = Verdict.objects.filter(
        criterion=OuterRef("pk"), trials__gt=0, run__status=RunStatus.SUCCEEDED
    )
    items = list(
        AcceptanceCriterion.objects.filter(project=project)
        .exclude(Exists(judged))
        .order_by("code")
        .values("id", "code")
    )
    return {"count": len(items), "items": items}


def latest_verdicts(*, project: Project) -> list[tuple[AcceptanceCriterion, Verdict | None]]:
    """Each acceptance criterion with the verdict of the last finished run that judged it."""
    latest = (
        Verdict.objects.filter(criterion=OuterRef("pk"), run__status=RunStatus.SUCCEEDED)
        .order_by("-run__created_at", "-pk")
        .values("pk")[:1]
    )
    criteria = list(
        AcceptanceCriterion.objects.filter(project=project)
        .annotate(latest_verdict=Subquery(latest))
        .order_by("code")
    )
    ids = [c.latest_verdict for c in criteria if c.latest_verdict]
    verdicts = Verdict.objects.select_related("run__campaign").in_bulk(ids) if ids else {}
    return [(c, verdicts.get(c.latest_verdict)) for c in criteria]


def runs_of_project(*, project: Project) -> QuerySet[Run]:
    """The project's runs, nothing joined: to find one by id for a service."""
    return Run.objects.filter(campaign__project=project)


def run_rows(*, project: Project, entry: bool = False) -> QuerySet[Run]:
    """The runs with their campaign and starter (and ledger entry when asked), and
    ``cases_done`` counted as the validation API counts it."""
    related = ("campaign", "started_by", "entry") if entry else ("campaign", "started_by")
    return (
        runs_of_project(project=project)
        .select_related(*related)
        .annotate(cases_done=Count("results"))
    )


def campaign_runs(*, project: Project, campaign: Campaign) -> QuerySet[Run]:
    """A campaign's runs, newest first, as :func:`run_rows` gives them."""
    return run_rows(project=project).filter(campaign=campaign).order_by("-created_at")


def active_runs(*, project: Project) -> QuerySet[Run]:
    """Queued and running runs, oldest first, with ``cases_done``."""
    return (
        Run.objects.filter(campaign__project=project, status__in=ACTIVE)
        .select_related("campaign")
        .annotate(cases_done=Count("results"))
        .order_by("created_at")
    )


def run_verdicts(*, run: Run) -> list[Verdict]:
    return list(run.verdicts.select_related("criterion").order_by("criterion__code"))


def run_verdict_of(*, run: Run, code: str) -> Verdict | None:
    """The run's verdict on the criterion ``code``, with the coverage recorded with it."""
    return run.verdicts.select_related("criterion").filter(criterion__code=code).first()


def run_results(*, run: Run) -> QuerySet[CaseResult]:
    return CaseResult.objects.filter(run=run).order_by("case_id")


def run_cases_done(*, run: Run) -> int:
    """How many cases of the run have a result (``cases_done`` when the run row counted them)."""
    done = getattr(run, "cases_done", None)
    return CaseResult.objects.filter(run=run).count() if done is None else done


def run_cases_for_plot(*, run: Run) -> list[tuple[str, str, dict, dict]]:
    """(case id, scenario, params, KPIs) of at most :data:`KPI_POINTS` cases, spread evenly."""
    total = getattr(run, "cases_done", None) or run.cases_total
    rows = run_results(run=run)
    if total > KPI_POINTS:
        stride = -(-total // KPI_POINTS)
        ids = list(rows.values_list("pk", flat=True))[::stride]
        rows = rows.filter(pk__in=ids)
    return list(rows.values_list("case_id", "scenario", "params", "kpis"))


# --- What the API reads ------------------------------------------------------------------------


def scenario_list(*, project: Project) -> QuerySet[Scenario]:
    return (
        Scenario.objects.filter(project=project)
        .prefetch_related("requirements", "spaces")
        .order_by("name")
    )


def scenario_catalog_list(*, project: Project) -> QuerySet[ScenarioCatalog]:
    """The project's OpenSCENARIO catalogs, without the stored files."""
    return ScenarioCatalog.objects.filter(project=project).defer("content").order_by("name")


def campaign_list(*, project: Project) -> QuerySet[Campaign]:
    return (
        Campaign.objects.filter(project=project)
        .prefetch_related("criteria", "spaces__scenario")
        .order_by("name")
    )


def run_list(*, project: Project) -> QuerySet[Run]:
    """The runs, newest first, each with its campaign, ledger entry, verdicts and
    ``cases_done``."""
    return (
        runs_of_project(project=project)
        .select_related("campaign", "entry")
        .prefetch_related("verdicts__criterion")
        .annotate(cases_done=Count("results"))
        .order_by("-created_at")
    )


# --- What a criterion was judged on ------------------------------------------------------------


def criterion_scenario_breakdown(*, verdict: Verdict, with_empty: bool = False) -> list[dict]:
    """Per scenario of the verdict's run, by name: ``{"scenario", "cases", "in_scope",
    "judged", "failing"}`` for the verdict's criterion. Only the scenarios that fed it with
    cases in its scope, unless ``with_empty``: then every scenario of the run."""
    rows = [dict(row) for row in verdict.scenarios or []]
    return rows if with_empty else [row for row in rows if row["in_scope"]]


def criterion_judges(
    *, project: Project, criterion: AcceptanceCriterion
) -> Callable[[str, Mapping], bool]:
    """Whether a run would judge a case (its scenario's name, its parameters) by ``criterion``:
    the case is inside the criterion's scope and its scenario speaks to the criterion's
    requirement (any scenario when it names none), as :func:`validation.verdicts
    .judge_in_scope` is told in a run."""
    linked = Scenario.requirements.through.objects.filter(
        scenario=OuterRef("pk"), requirement=criterion.requirement_id
    )
    rows = Scenario.objects.filter(project=project).annotate(speaks=Exists(linked))
    tags, speaking = {}, set()
    for name, odd_tags, speaks in rows.values_list("name", "odd_tags", "speaks"):
        tags[name] = odd_tags
        if speaks or not criterion.requirement_id:
            speaking.add(name)

    def judges(scenario: str, params: Mapping) -> bool:
        return scenario in speaking and criterion_scope.contains(
            criterion.scope, scenario=scenario, params=params, odd_tags=tags.get(scenario, ())
        )

    return judges


# --- Comparing two runs ------------------------------------------------------------------------


def run_cases(*, run: Run, decoded: dict | None = None) -> tuple[list, list]:
    """Every case of a run as a verdict reads it (:class:`validation.verdicts.Case`), by id,
    and each case's match key: its scenario and its parameters' text as stored (equal
    parameters written by the same sampling give equal text).

    Read with one plain query and decoded here, not by the ORM's per-field converters: a
    comparison reads hundreds of thousands of rows. ``decoded`` (text -> value), shared
    between the two runs of a comparison, decodes each distinct text once: the cases whose
    KPIs did not change between two versions are stored as the same text."""
    from validation.verdicts import Case

    table = connection.ops.quote_name(CaseResult._meta.db_table)
    sql = (
        f"SELECT case_id, scenario, params, kpis FROM {table} "  # noqa: S608 (no user input)
        "WHERE run_id = %s ORDER BY case_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run.pk])
        rows = cursor.fetchall()
    decoded = {} if decoded is None else decoded
    loads = json.loads

    def value(text):
        if not isinstance(text, str):
            return text
        found = decoded.get(text)
        if found is None:
            found = decoded[text] = loads(text)
        return found

    cases, keys = [], []
    for case_id, scenario, params, kpis in rows:
        if isinstance(params, str):
            keys.append((scenario, params))
        else:
            keys.append((scenario, json.dumps(params, sort_keys=True)))
        cases.append(Case(case_id, scenario, value(params), value(kpis)))
    return cases, keys


def stored_run_columns(*runs: Run) -> list:
    """The cases of each run as :class:`validation.comparison.StoredColumns`, in the order
    :func:`run_cases` gives them: one plain query per run reads only the ids, the scenarios and
    the stored JSON texts of parameters and KPIs; the runs share the texts they have in common
    (the cases whose KPIs did not change between two versions), each decoded once and column by
    column."""
    from validation.comparison import stored_columns

    table = connection.ops.quote_name(CaseResult._meta.db_table)
    as_text = "::text" if connection.vendor == "postgresql" else ""
    sql = (
        f"SELECT case_id, scenario, params{as_text}, kpis{as_text} "  # noqa: S608 (no user input)
        f"FROM {table} WHERE run_id = %s ORDER BY case_id"
    )
    read = []
    with connection.cursor() as cursor, paused_gc():
        for run in runs:
            cursor.execute(sql, [run.pk])
            rows = cursor.fetchall()
            read.append(tuple([row[k] for row in rows] for k in range(4)))
            del rows
        return stored_columns(*read)


def comparison_criteria(*, project: Project, base: Run, head: Run) -> list:
    """The criteria of both runs' campaigns, by code, as :mod:`validation.comparison` reads
    them: statistics, scope, and the scenarios that speak to each (as a run decides)."""
    criteria = (
        AcceptanceCriterion.objects.filter(
            project=project, campaigns__in=[base.campaign_id, head.campaign_id]
        )
        .distinct()
        .order_by("code")
    )
    return comparison_criteria_for(project=project, criteria=criteria)


def comparison_criteria_for(*, project: Project, criteria) -> list:
    """``criteria`` as :mod:`validation.comparison` reads them (see
    :func:`comparison_criteria`)."""
    from validation.comparison import CriterionInput, spec_of

    links = Scenario.requirements.through.objects.filter(scenario__project=project)
    speaking: dict[int, set[str]] = defaultdict(set)
    for requirement, name in links.values_list("requirement_id", "scenario__name"):
        speaking[requirement].add(name)
    out = []
    for ac in criteria:
        if ac.requirement_id:
            speaks = speaking.get(ac.requirement_id, set()).__contains__
        else:
            speaks = _every_scenario
        out.append(CriterionInput(spec_of(ac), ac.scope or {}, speaks))
    return out


def _every_scenario(name: str) -> bool:
    return True


def comparison_report(*, project: Project, base: Run, head: Run, limit: int = 100) -> dict:
    """The comparison of ``head`` against ``base`` (see :func:`validation.comparison.compare`),
    with both runs named by campaign, id, inputs and ledger entry."""
    from validation.comparison import compare_stored

    odd_tags = dict(Scenario.objects.filter(project=project).values_list("name", "odd_tags"))
    base_cols, head_cols = stored_run_columns(base, head)
    report = compare_stored(
        base_cols,
        head_cols,
        comparison_criteria(project=project, base=base, head=head),
        odd_tags=odd_tags,
        limit=limit,
    )
    return {"base": _run_named(base), "head": _run_named(head), **report}


def _run_named(run: Run) -> dict:
    return {
        "run": run.pk,
        "campaign": run.campaign.name,
        "status": run.status,
        "cases": run.cases_total,
        "inputs": run.inputs,
        "entry": run.entry.index if run.entry_id else None,
    }


def comparisons_of_project(*, project: Project) -> QuerySet:
    """The recorded comparisons, newest first, with both runs' campaigns and the entry."""
    return Comparison.objects.filter(project=project).select_related(
        "base__campaign", "head__campaign", "entry", "created_by"
    )


def finished_runs(*, project: Project) -> QuerySet[Run]:
    """The project's succeeded runs, newest first, with their campaign: what can be compared."""
    return (
        runs_of_project(project=project)
        .filter(status=RunStatus.SUCCEEDED)
        .select_related("campaign", "entry")
        .order_by("-created_at", "-pk")
    )


def comparisons_of_run(*, project: Project, run: Run) -> QuerySet:
    """The recorded comparisons with ``run`` as the head, newest first."""
    return comparisons_of_project(project=project).filter(head=run)


def run_coverage(
    *,
    project: Project,
    run: Run,
    criterion: AcceptanceCriterion | None = None,
    bins: int = 5,
    goal: int = 1,
    x: str | None = None,
    y: str | None = None,
) -> dict:
    """The coverage of a run's cases (those ``criterion`` judges, when given) over every
    parameter, and the two-parameter grid of ``x`` and ``y`` when both are named (see
    :mod:`validation.coverage`). Raises :class:`validation.coverage.UnknownParameter` for a
    grid axis the cases do not have, :class:`validation.coverage.CoverageError` for one that
    cannot be counted."""
    from validation import comparison, coverage

    cases, _ = run_cases(run=run)
    cols = comparison.Columns(cases)
    judged = np.ones(len(cases), dtype=bool)
    if criterion is not None:
        (spec,) = comparison_criteria_for(project=project, criteria=[criterion])
        odd_tags = dict(Scenario.objects.filter(project=project).values_list("name", "odd_tags"))
        judged = comparison.judged_mask(spec, cols, odd_tags)
    picked = [c for c, keep in zip(cases, judged.tolist(), strict=True) if keep]
    names = coverage.parameter_names([c.params for c in picked])
    picked_cols = comparison.Columns(picked)
    columns = {n: picked_cols.param(n) for n in names}
    axes = {}
    for name in names:
        try:
            axes[name] = coverage.axis_for(name, columns[name], bins)
        except coverage.CoverageError:
            continue
    out = {
        "run": run.pk,
        "criterion": criterion.code if criterion else None,
        "scope": criterion.scope if criterion else {},
        "cases": len(picked),
        "bins": bins,
        "goal": goal,
        "parameters": [coverage.coverage(a, columns[n], goal=goal) for n, a in axes.items()],
        "grid": None,
    }
    if x and y:
        for name in (x, y):
            if name not in names:
                raise coverage.UnknownParameter(f"{name}: not a parameter of these cases")
            if name not in axes:
                raise coverage.CoverageError(f"{name}: its values cannot be put in bins")
        out["grid"] = coverage.grid(axes[x], axes[y], columns[x], columns[y], goal=goal)
    return out


def run_parameter_names(*, run: Run, limit: int = 2000) -> list[str]:
    """The parameters a run's cases have (read from the first ``limit``), by name."""
    names: set[str] = set()
    for params in CaseResult.objects.filter(run=run).values_list("params", flat=True)[:limit]:
        names.update(params)
    return sorted(names)


def searches_of_project(*, project: Project) -> QuerySet[FailureSearch]:
    """The project's failure searches, newest first, without their evaluations."""
    return (
        FailureSearch.objects.filter(project=project)
        .select_related("criterion", "scenario", "campaign", "entry", "created_by")
        .defer("evaluations")
    )


def search_of_project(*, project: Project) -> QuerySet[FailureSearch]:
    """The project's failure searches with their evaluations, to read one."""
    return FailureSearch.objects.filter(project=project).select_related(
        "criterion", "scenario", "campaign", "entry", "created_by"
    )


def criterion_by_code(*, project: Project, code: str) -> AcceptanceCriterion | None:
    return AcceptanceCriterion.objects.filter(project=project, code=code).first()


def recorded_events(
    *, project: Project, kind: str | None = None, drive: str | None = None
) -> QuerySet[RecordedEvent]:
    """Events mined from the project's recorded drives, by drive and time; ``kind`` and
    ``drive`` (the drive's content digest or its name as given) narrow them."""
    events = RecordedEvent.objects.filter(drive__project=project).select_related("drive")
    if kind:
        events = events.filter(kind=kind)
    if drive:
        events = events.filter(Q(drive__sha256=drive) | Q(drive__source_name=drive))
    return events.order_by("drive__source_name", "drive_id", "case", "t_start", "pk")


def recorded_drives(*, project: Project) -> QuerySet[RecordedDrive]:
    """The project's mined drives, newest first."""
    return RecordedDrive.objects.filter(project=project).select_related("entry", "created_by")
