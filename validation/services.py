"""Every write of the validation app: scenarios, campaigns, runs and their results.

A run is split into shards of cases; each shard is a Celery task (``validation.tasks``, sent by
name: tasks call services, never the other way round) that computes KPIs through an executor
and stores one :class:`CaseResult` per case, unique per run, so a redelivered or retried shard
never duplicates a result. The shard that completes the run
computes the verdicts, records the run in the ledger (an in-toto statement whose subjects are its
outputs and whose predicate names the digests of every input) and updates the verification
status of the linked requirements.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance import services as compliance_services
from compliance.models import AcceptanceCriterion
from evidence import ledger
from evidence.ledger import Record, Subject
from evidence.models import Artifact, ArtifactKind, EntryKind
from evidence.verify import canonical_json
from projects.models import Project
from projects.permissions import Action, require
from validation import background, coverage, mining, openscenario, sampling
from validation import search as failure_search_engine
from validation.execution import registry
from validation.execution.base import ExecutorError, ShardPending, TransientExecutorError
from validation.execution.cases import drive_path
from validation.execution.registry import get_executor
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
    Sampling,
    Scenario,
    ScenarioCatalog,
    Verdict,
)
from validation.openscenario import folder
from validation.verdicts import (
    NOT_JUDGED,
    RECORDED_DRIVE,
    Case,
    CriterionSpec,
    RecordedExposure,
    judge_in_scope,
)

logger = logging.getLogger(__name__)

#: A commit id as a run names it: 7 to 64 hexadecimal digits (SHA-1 or SHA-256, abbreviated).
COMMIT = re.compile(r"^[0-9a-f]{7,64}$")
#: The Celery task that runs one shard (``validation.tasks.run_shard_task``).
RUN_SHARD_TASK = "validation.run_shard"
RESULTS_TO_LAKE_TASK = "validation.results_to_lake"


def _digest(data) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()


# --- Scenarios ---------------------------------------------------------------------------------


def scenario_import(*, user, project: Project, path: Path, seed: int | None = None) -> dict:
    """Import one OpenSCENARIO file; see :func:`scenarios_import`."""
    return scenarios_import(user=user, project=project, paths=[path], seed=seed)


def _stored_catalog(project: Project, name: str) -> openscenario.Catalog | None:
    row = ScenarioCatalog.objects.filter(project=project, name=name).first()
    if row is None:
        return None
    return openscenario.parse_catalog(bytes(row.content), row.file_name)


def scenarios_import(
    *,
    user,
    project: Project,
    paths: Sequence[str | Path],
    root: str | Path | None = None,
    seed: int | None = None,
) -> dict:
    """Import OpenSCENARIO files, folders or zip archives of them, in one transaction.

    Catalog files are stored as catalogs; scenario files become a logical scenario with its
    default case, distribution files the scenario they name with their cases; every
    ``CatalogReference`` is resolved against the catalogs of the import, of the scenario's
    ``CatalogLocations`` and of the project (see :mod:`validation.openscenario.folder`). Files
    may only refer to files inside ``root`` (default: the folder holding everything given).

    Returns ``{"scenarios", "cases", "discarded", "catalogs", "warnings"}``. A file that cannot
    be imported raises ``ValidationError`` naming it relative to the root, and nothing is
    written.
    """
    require(user, project, Action.EDIT)
    try:
        with tempfile.TemporaryDirectory(prefix="scenarios-") as workdir:
            sources = folder.collect_sources(
                paths,
                root,
                Path(workdir),
                settings.SAFECASE_MAX_EXPANDED_BYTES,
                settings.SAFECASE_MAX_EXPANSION_RATIO,
            )
            plan = folder.plan_import(
                sources, seed=seed, stored=lambda name: _stored_catalog(project, name)
            )
    except openscenario.ScenarioError as exc:
        raise ValidationError({"file": str(exc)}) from exc
    records = []
    cases = discarded = 0
    with transaction.atomic():
        for item in plan.catalogs:
            catalog = item.catalog
            digest = hashlib.sha256(item.data).hexdigest()
            earlier = ScenarioCatalog.objects.filter(project=project, name=catalog.name).first()
            if earlier is not None and earlier.sha256 != digest:
                plan.warnings.append(
                    f"{item.shown}: replaces catalog {catalog.name!r} imported earlier from "
                    f"{earlier.file_name} (the ledger keeps both digests)"
                )
            ScenarioCatalog.objects.update_or_create(
                project=project,
                name=catalog.name,
                defaults={
                    "file_name": item.shown,
                    "sha256": digest,
                    "kinds": catalog.kinds,
                    "entries": [e.summary() for e in catalog.entries.values()],
                    "content": item.data,
                },
            )
            records.append(
                Record(
                    EntryKind.CHANGE,
                    [Subject(f"catalog:{catalog.name}", digest)],
                    {"file": item.shown, "kinds": catalog.kinds, "entries": len(catalog.entries)},
                )
            )
        for item in plan.scenarios:
            expansion = item.expansion
            logical = expansion.scenario
            name = Path(item.scenario_shown).stem
            scenario, _ = Scenario.objects.update_or_create(
                project=project,
                name=name,
                defaults={
                    "file_name": item.scenario_shown,
                    "sha256": hashlib.sha256(item.scenario_data).hexdigest(),
                    "parameters": [
                        {"name": p.name, "type": p.type, "default": p.value}
                        for p in logical.parameters.values()
                    ],
                    "catalog_references": [r.summary() for r in item.references],
                },
            )
            space, _ = ParameterSpace.objects.update_or_create(
                scenario=scenario,
                name=Path(item.shown).stem,
                defaults={
                    "sha256": hashlib.sha256(item.data).hexdigest(),
                    "kind": "stochastic" if expansion.seed is not None else "deterministic",
                    "cases": expansion.cases,
                    "discarded": expansion.discarded,
                    "seed": expansion.seed,
                },
            )
            payload = {
                "file": scenario.file_name,
                "space": space.name,
                "spaceSha256": space.sha256,
                "cases": len(space.cases),
                "discarded": space.discarded,
            }
            if item.references or item.missing_catalogs:
                payload["catalogReferences"] = len(item.references)
                payload["catalogsMissing"] = item.missing_catalogs
            records.append(
                Record(EntryKind.CHANGE, [Subject(f"scenario:{name}", scenario.sha256)], payload)
            )
            cases += len(expansion.cases)
            discarded += expansion.discarded
        ledger.append(project, records, user=user)
    return {
        "scenarios": len(plan.scenarios),
        "cases": cases,
        "discarded": discarded,
        "catalogs": len(plan.catalogs),
        "warnings": plan.warnings,
    }


@transaction.atomic
def scenario_define(
    *,
    user,
    project: Project,
    name: str,
    parameters: list[dict],
    odd_tags: list[str] = (),
    sotif_area: int | None = None,
    requirements=(),
    triggering_conditions=(),
) -> Scenario:
    """A logical scenario described in Safecase itself (parameters for the drive simulator)."""
    require(user, project, Action.EDIT)
    content = {"name": name, "parameters": parameters, "odd_tags": sorted(odd_tags)}
    scenario = Scenario(
        project=project,
        name=name,
        file_name="",
        sha256=_digest(content),
        parameters=parameters,
        odd_tags=sorted(odd_tags),
        sotif_area=sotif_area,
    )
    scenario.full_clean()
    scenario.save()
    scenario.requirements.set(requirements)
    scenario.triggering_conditions.set(triggering_conditions)
    ledger.append(
        project,
        [Record(EntryKind.CHANGE, [Subject(f"scenario:{name}", scenario.sha256)], content)],
        user=user,
    )
    return scenario


@transaction.atomic
def space_create(
    *,
    user,
    project: Project,
    scenario: Scenario,
    name: str,
    ranges: dict,
    method: str,
    n: int,
    seed: int = 0,
    fixed: dict | None = None,
) -> ParameterSpace:
    """Sample concrete cases over parameter ranges: ``grid``, ``random`` or ``lhs``.

    ``ranges`` is JSON: ``[low, high]`` or ``[low, high, step]`` is a range, ``{"values": [...]}``
    a discrete set.
    """
    require(user, project, Action.EDIT)
    ranges = {name: _dimension(spec) for name, spec in ranges.items()}
    try:
        if method == Sampling.GRID:
            cases = sampling.grid(ranges, cap=n, seed=seed)
        elif method == Sampling.RANDOM:
            cases = sampling.random_sample(ranges, n, seed=seed)
        elif method == Sampling.LHS:
            cases = sampling.latin_hypercube(ranges, n, seed=seed)
        else:
            raise ValidationError({"method": "Use grid, random or lhs."})
    except sampling.SamplingError as exc:
        raise ValidationError({"ranges": str(exc)}) from exc
    cases = [{**(fixed or {}), **case} for case in cases]
    ranges = {k: list(v) if isinstance(v, tuple) else {"values": v} for k, v in ranges.items()}
    space, _ = ParameterSpace.objects.update_or_create(
        scenario=scenario,
        name=name,
        defaults={
            "kind": method,
            "ranges": ranges,
            "cases": cases,
            "seed": seed,
            "sha256": _digest({"ranges": ranges, "method": method, "seed": seed, "n": n}),
        },
    )
    return space


@transaction.atomic
def space_from_drives(
    *, user, project: Project, scenario: Scenario, name: str, drives: list[dict]
) -> ParameterSpace:
    """A space whose concrete cases are recorded drives, each ``{"uri": ..., ...}`` (replayed,
    not simulated). Its digest covers the drives, so a run's ledger entry names them."""
    require(user, project, Action.EDIT)
    if scenario.project_id != project.pk:
        raise ValidationError({"scenario": "The scenario belongs to another project."})
    if not drives or not all(isinstance(d, dict) and isinstance(d.get("uri"), str) for d in drives):
        raise ValidationError({"drives": "Give at least one drive, each with a uri."})
    return _drives_space(scenario, name, drives)


def _drives_space(
    scenario: Scenario, name: str, drives: list[dict], recorded: list[str] | None = None
) -> ParameterSpace:
    ranges = {"drives": True, "recorded": recorded} if recorded else {"drives": True}
    space, _ = ParameterSpace.objects.update_or_create(
        scenario=scenario,
        name=name,
        defaults={
            "kind": "drives",
            "ranges": ranges,
            "cases": drives,
            "seed": None,
            "sha256": _digest({"ranges": ranges, "kind": "drives", "cases": drives}),
        },
    )
    return space


@transaction.atomic
def scenario_requirements_set(
    *, user, project: Project, scenario: Scenario, requirements
) -> Scenario:
    """The requirements a scenario verifies (all of ``project``), replacing those it had."""
    require(user, project, Action.EDIT)
    requirements = list(requirements)
    if scenario.project_id != project.pk or any(r.project_id != project.pk for r in requirements):
        raise ValidationError(
            {"requirements": f"The scenario and its requirements must belong to {project.key}."}
        )
    scenario.requirements.set(requirements)
    return scenario


def _dimension(spec):
    if isinstance(spec, dict) and isinstance(spec.get("values"), list) and spec["values"]:
        return list(spec["values"])
    if (
        isinstance(spec, (list, tuple))
        and len(spec) in (2, 3)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec)
    ):
        return tuple(float(v) for v in spec)
    raise ValidationError(
        {"ranges": f"{spec!r}: use [low, high], [low, high, step] or {{'values': [...]}}"}
    )


# --- Campaigns and runs ------------------------------------------------------------------------


@transaction.atomic
def campaign_create(
    *,
    user,
    project: Project,
    name: str,
    spaces: list[ParameterSpace],
    criteria: list[AcceptanceCriterion],
    executor: str = registry.DEFAULT,
    sut_commit: str = "",
    model: Artifact | None = None,
    dataset: Artifact | None = None,
    cap: int = 10_000,
    seed: int = 0,
    shard_size: int = 500,
    description: str = "",
    coverage_plan: dict | None = None,
) -> Campaign:
    """Create a campaign; ``coverage_plan`` sets the bins and goals its verdicts' coverage is
    measured with (:func:`validation.coverage.clean_plan`)."""
    require(user, project, Action.EDIT)
    if any(s.scenario.project_id != project.pk for s in spaces):
        raise ValidationError({"spaces": "Every scenario must belong to this project."})
    if any(c.project_id != project.pk for c in criteria):
        raise ValidationError({"criteria": "Every criterion must belong to this project."})
    try:
        plan = coverage.clean_plan(coverage_plan)
    except coverage.CoverageError as exc:
        raise ValidationError({"coverage_plan": f"Coverage plan: {exc}."}) from exc
    campaign = Campaign(
        project=project,
        name=name,
        executor=executor,
        sut_commit=sut_commit,
        model=model,
        dataset=dataset,
        cap=cap,
        seed=seed,
        shard_size=shard_size,
        description=description,
        coverage_plan=plan,
        created_by=user,
    )
    campaign.full_clean()
    campaign.save()
    campaign.spaces.set(spaces)
    campaign.criteria.set(criteria)
    return campaign


#: A case parameter that fixes the seed its drive is simulated with (a promoted search failure
#: keeps the seed it failed with, so it fails again).
SIMULATION_SEED = "simulation_seed"


def campaign_cases(campaign: Campaign, spaces=None) -> list[dict]:
    """The concrete cases of a campaign (or of some of its spaces); case ids are stable across
    runs. The campaign's cap limits the sampled and simulated cases; recorded drives are never
    dropped, since leaving out recorded evidence would bias the verdict."""
    simulated, recorded = [], []
    spaces = spaces if spaces is not None else campaign.spaces.select_related("scenario")
    for space in sorted(spaces, key=lambda s: s.pk):
        drives = space.ranges.get("drives") if isinstance(space.ranges, dict) else None
        for number, params in enumerate(space.cases):
            case = {
                "case_id": f"{space.scenario.name}/{space.name}/{number:06d}",
                "scenario": space.scenario.name,
                "params": params,
            }
            if drives:
                case["source"] = {"kind": "drive", "uri": params["uri"], "case": params.get("case")}
                # a mined event replays its time span with its subject as the ego
                case["source"].update({k: params[k] for k in ("span", "ego") if k in params})
                recorded.append(case)
            else:
                seed = params.get(SIMULATION_SEED, campaign.seed * 1_000_003 + number)
                case["source"] = {"kind": "simulate", "seed": seed}
                simulated.append(case)
    return simulated[: campaign.cap] + recorded


def run_start(
    *,
    user,
    campaign: Campaign,
    executor: str | None = None,
    spaces=None,
    model: str | None = None,
    commit: str | None = None,
    in_background: bool = False,
) -> Run:
    """Queue a run (of every space of the campaign, or of ``spaces``); its shards are
    scheduled once the transaction has committed. An executor that is not configured here is
    refused before anything is written.

    ``in_background`` (a web request's run): without a broker the shards go to the embedded
    mode's background worker (:mod:`validation.background`) instead of running in the caller,
    so the request returns at once; a command leaves it off and waits for its run.

    ``model`` (the name of a model registered in the project: its latest version) and
    ``commit`` (the system under test's commit) stand in for the campaign's own for this run,
    as a CI pipeline runs a campaign on the version it builds; the run's inputs name them."""
    project = campaign.project
    require(user, project, Action.RUN)
    executor = executor or campaign.executor
    if executor not in registry.EXECUTORS:
        raise ValidationError({"executor": f"Use {registry.listed()}."})
    unconfigured = registry.not_configured(executor)
    if unconfigured:  # refused before anything is written: no run left to fail
        raise ValidationError({"executor": unconfigured})
    artifact = campaign.model
    if model:
        artifact = (
            Artifact.objects.filter(project=project, kind=ArtifactKind.MODEL, name=model)
            .order_by("-version")
            .first()
        )
        if artifact is None:
            raise ValidationError({"model": f"No model named {model!r} in {project.key}."})
    if commit and not COMMIT.match(commit):
        raise ValidationError({"commit": f"{commit!r} is not a commit id (7 to 64 hex digits)."})
    cases = campaign_cases(campaign, spaces)
    if not cases:
        raise ValidationError({"campaign": f"{campaign.name} has no cases to run."})
    shards = (len(cases) + campaign.shard_size - 1) // campaign.shard_size
    inputs = {
        "scenarios": sorted(
            {s.scenario.sha256 for s in campaign.spaces.select_related("scenario")}
        ),
        "spaces": sorted(s.sha256 for s in campaign.spaces.all()),
        "dataset": campaign.dataset.sha256 if campaign.dataset else None,
        "model": artifact.sha256 if artifact else None,
        "commit": commit or campaign.sut_commit or None,
        "seed": campaign.seed,
        "cases": _digest(cases),
    }
    if model:
        inputs["modelName"] = f"{artifact.name} v{artifact.version}"
    with transaction.atomic():
        run = Run.objects.create(
            campaign=campaign,
            executor=executor,
            cases_total=len(cases),
            shards_total=shards,
            inputs=inputs,
            started_by=user,
        )
        for shard in range(shards):
            schedule = _schedule_in_background if in_background else _schedule_shard
            transaction.on_commit(lambda s=shard, send=schedule: send(run.pk, s))
    return run


def _schedule_shard(run_id: int, shard: int) -> None:
    """Send one shard's task. The task is named, not imported, since it calls this module; it
    runs in-process when the app is eager (no broker), as ``delay`` on the task itself would."""
    current_app.signature(RUN_SHARD_TASK, args=(run_id, shard)).delay()


def _schedule_in_background(run_id: int, shard: int) -> None:
    """Without a broker, send the shard's task from the background worker's pool
    (:mod:`validation.background`), unless that is turned off; with one, as always."""
    if current_app.conf.task_always_eager and background.enabled():
        background.submit(lambda: _schedule_shard(run_id, shard), f"run {run_id} shard {shard}")
    else:
        _schedule_shard(run_id, shard)


@transaction.atomic
def run_cancel(*, user, run: Run) -> Run:
    require(user, run.campaign.project, Action.RUN)
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        run.status = RunStatus.CANCELLED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
    return run


def shard_cases(run: Run, shard: int) -> list[dict]:
    size = run.campaign.shard_size
    return campaign_cases(run.campaign)[shard * size : (shard + 1) * size]


def run_shard(run_id: int, shard: int, handle: str | None = None) -> str:
    """Compute and store one shard's results; finish the run when it was the last shard.

    Safe to call again for the same shard (a redelivered task): results already stored are
    kept and nothing is added twice. An executor whose job is still running (SageMaker) raises
    :class:`ShardPending` with its handle, and the task polls again later; a transient failure
    raises :class:`TransientExecutorError` for the task to retry; any other failure fails the
    run with its reason.
    """
    run = Run.objects.select_related("campaign").get(pk=run_id)
    if run.status in (RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.SUCCEEDED):
        return run.status
    if run.status == RunStatus.QUEUED:
        Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(status=RunStatus.RUNNING)
    if not CaseResult.objects.filter(run=run, shard=shard).exists():
        cases = shard_cases(run, shard)
        executor = get_executor(run.executor)
        try:
            if handle is None:
                handle = executor.submit(run.pk, shard, cases)
            state = executor.poll(handle)
            if state == "running":
                raise ShardPending(handle)
            if state != "succeeded":
                reason = executor.failure_reason(handle)
                raise ExecutorError(
                    f"shard {shard} ended {state}" + (f": {reason}" if reason else "")
                )
            results = executor.collect(handle)
        except (ShardPending, TransientExecutorError):
            raise
        except ExecutorError as exc:
            run_fail(run.pk, f"shard {shard}: {exc}")
            return RunStatus.FAILED
        by_id = {c["case_id"]: c for c in cases}
        missing = sorted(set(by_id) - set(results))
        if missing:
            run_fail(run.pk, f"shard {shard}: no KPIs for {len(missing)} cases, e.g. {missing[0]}")
            return RunStatus.FAILED
        CaseResult.objects.bulk_create(
            [
                CaseResult(
                    run=run,
                    shard=shard,
                    case_id=cid,
                    scenario=by_id[cid]["scenario"],
                    params=by_id[cid]["params"],
                    kpis=results[cid],
                )
                for cid in by_id
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
    return _maybe_finish(run.pk)


def run_fail(run_id: int, message: str) -> None:
    """Mark a run failed with the reason; no verdict is recorded for a failed run."""
    Run.objects.filter(pk=run_id, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
        status=RunStatus.FAILED, error=message[:5000], finished_at=timezone.now()
    )


def _maybe_finish(run_id: int) -> str:
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("campaign__project").get(pk=run_id)
        if run.status != RunStatus.RUNNING:
            return run.status
        done = CaseResult.objects.filter(run=run).values("shard").distinct().count()
        if done < run.shards_total:
            return run.status
        _finish(run)
        return run.status


def _criterion_spec(ac: AcceptanceCriterion) -> CriterionSpec:
    return CriterionSpec(
        code=ac.code,
        unit=ac.unit,
        confidence=ac.confidence,
        allowed_probability=ac.allowed_failure_probability,
        allowed_rate=ac.hazardous_behaviour_rate,
        kpi=ac.kpi,
        comparator=ac.comparator,
        threshold=ac.threshold,
        target=ac.validation_target,
    )


def _finish(run: Run) -> None:
    """Verdicts, the ledger statement and requirement verification, in one transaction."""
    campaign = run.campaign
    project = campaign.project
    results = list(
        CaseResult.objects.filter(run=run)
        .order_by("case_id")
        .values_list("case_id", "scenario", "params", "kpis")
    )
    cases = [Case(*row) for row in results]
    odd_tags = dict(Scenario.objects.filter(project=project).values_list("name", "odd_tags"))
    recorded = recorded_exposure(campaign)
    verdicts = []
    covered = _coverage_of(campaign, cases, odd_tags)
    for ac in campaign.criteria.select_related("requirement").order_by("code"):
        speaks = _speaks_to(ac)
        outcome, judged = judge_in_scope(
            _criterion_spec(ac),
            ac.scope,
            cases,
            odd_tags=odd_tags,
            speaks=speaks,
            recorded=recorded,
        )
        judged["coverage"] = covered(ac, speaks)
        verdicts.append((ac, outcome, judged))
    statements = [
        {**v.as_json(), **{k: j[k] for k in STATED}, "coverage": coverage.summary(j["coverage"])}
        | ({"exposureFigures": j["exposure_figures"]} if j["exposure_figures"] else {})
        for _, v, j in verdicts
    ]
    outputs = {
        "results": _digest([[c.case_id, c.kpis] for c in cases]),
        "verdicts": _digest(statements),
    }
    record = Record(
        EntryKind.VALIDATION_RESULT,
        [
            Subject(f"run:{campaign.name}:{run.pk}:results", outputs["results"]),
            Subject(f"run:{campaign.name}:{run.pk}:verdicts", outputs["verdicts"]),
        ],
        {
            "campaign": campaign.name,
            "run": run.pk,
            "executor": run.executor,
            "cases": len(results),
            "inputs": run.inputs,
            "verdicts": statements,
        },
    )
    (entry,) = ledger.append(project, [record], user=run.started_by)
    for ac, outcome, judged in verdicts:
        Verdict.objects.create(
            run=run,
            criterion=ac,
            verdict=outcome.verdict,
            failures=outcome.failures,
            trials=outcome.trials,
            exposure=outcome.exposure,
            exposure_figures=judged["exposure_figures"],
            upper_bound=outcome.upper_bound,
            target=outcome.target,
            progress=outcome.progress,
            scope=judged["scope"],
            cases_in_scope=judged["cases_in_scope"],
            cases_out_of_scope=judged["cases_out_of_scope"],
            judged_sha256=judged["judged_cases"]["sha256"],
            scenarios=judged["scenarios"],
            coverage=judged["coverage"],
        )
        if ac.requirement_id:
            if outcome.verdict == NOT_JUDGED:
                result, summary = "inconclusive", f"run {run.pk}: not judged, no case in scope"
            else:
                result = outcome.verdict
                summary = (
                    f"run {run.pk}: {outcome.failures}/{outcome.trials} failing, "
                    f"upper bound {outcome.upper_bound:.3g} at {ac.confidence:.0%}"
                )
            compliance_services.verification_record(
                user=run.started_by,
                project=project,
                requirement=ac.requirement,
                method=f"campaign {campaign.name}",
                result=result,
                summary=summary,
                entry=entry,
            )
    run.status = RunStatus.SUCCEEDED
    run.entry = entry
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "entry", "finished_at"])
    if settings.SAFECASE_RESULTS_URL:  # a copy for SQL in the lake (validation.results_lake)
        transaction.on_commit(
            lambda: current_app.signature(RESULTS_TO_LAKE_TASK, args=(run.pk,)).delay()
        )


def recorded_exposure(campaign: Campaign) -> list[RecordedExposure]:
    """The recorded drives of the campaign's spaces of mined events (:func:`events_space`),
    each with the scenario of its space and its exposure, to count once per drive."""
    found = []
    for space in campaign.spaces.select_related("scenario").order_by("pk"):
        digests = space.ranges.get("recorded") if isinstance(space.ranges, dict) else None
        if not digests:
            continue
        drives = RecordedDrive.objects.filter(project=campaign.project_id, sha256__in=digests)
        found.extend(
            RecordedExposure(d.sha256, space.scenario.name, d.distance_km, d.duration_s / 3600.0)
            for d in drives.order_by("sha256")
        )
    return found


#: What the run's ledger statement says of each verdict beyond its statistics.
STATED = ("scope", "cases_in_scope", "cases_out_of_scope", "judged_cases")


def _coverage_of(campaign: Campaign, cases: list[Case], odd_tags: dict):
    """The coverage of the cases a criterion judges (inside its scope, of a scenario speaking
    to it) under the campaign's plan; the run's cases are put in columns once."""
    from validation.comparison import Columns, CriterionInput, judged_mask

    try:
        plan = coverage.clean_plan(campaign.coverage_plan)
    except coverage.CoverageError as exc:  # edited past the service: measure with the defaults
        logger.warning("campaign %s: coverage plan ignored: %s", campaign.pk, exc)
        plan = coverage.clean_plan({})
    cols = Columns(cases)

    def covered(ac: AcceptanceCriterion, speaks) -> dict:
        criterion = CriterionInput(_criterion_spec(ac), ac.scope or {}, speaks)
        keep = judged_mask(criterion, cols, odd_tags).tolist()
        picked = [c for c, k in zip(cases, keep, strict=True) if k]
        return coverage.measure(picked, plan, odd_tags)

    return covered


def _speaks_to(ac: AcceptanceCriterion):
    """Whether a scenario's cases bear on a criterion: the scenario is linked to the
    criterion's requirement (every scenario when the criterion names no requirement). Inside
    that, the criterion's scope picks the cases it judges."""
    if not ac.requirement_id:
        return lambda name: True
    names = set(
        Scenario.objects.filter(requirements=ac.requirement_id).values_list("name", flat=True)
    )
    return names.__contains__


# --- Regression between versions -------------------------------------------------------------


def run_compare(*, user, project: Project, base: Run, head: Run, limit: int = 100) -> Comparison:
    """Compare the ``head`` run against the ``base`` run (:mod:`validation.comparison`) and
    record the comparison in the ledger, naming both runs' inputs (commits, models, datasets,
    scenarios) and every criterion's outcome. Both runs must be finished runs of ``project``."""
    from validation import selectors

    require(user, project, Action.RUN)
    for side, run in (("base", base), ("head", head)):
        if run.campaign.project_id != project.pk:
            raise ValidationError({side: f"Run {run.pk} is not a run of {project.key}."})
        if run.status != RunStatus.SUCCEEDED:
            raise ValidationError({side: f"Run {run.pk} is {run.status}: compare finished runs."})
    if base.pk == head.pk:
        raise ValidationError({"head": "Compare two different runs."})
    report = selectors.comparison_report(project=project, base=base, head=head, limit=limit)
    digest = _digest(report)
    summary = [
        {k: c[k] for k in ("criterion", "base", "head", "test", "p_value", "alpha", "significant")}
        | {"flips": c["flips"], "regressed": c["regressed"], "reasons": c["reasons"]}
        for c in report["criteria"]
    ]
    record = Record(
        EntryKind.VALIDATION_RESULT,
        [Subject(f"comparison:{head.pk}:against:{base.pk}", digest)],
        {
            "comparison": {"base": report["base"], "head": report["head"]},
            "matched": report["matched"],
            "onlyBase": report["only_base"],
            "onlyHead": report["only_head"],
            "criteria": summary,
            "regressed": report["regressed"],
        },
    )
    with transaction.atomic():
        (entry,) = ledger.append(project, [record], user=user)
        return Comparison.objects.create(
            project=project,
            base=base,
            head=head,
            regressed=report["regressed"],
            report=report,
            sha256=digest,
            entry=entry,
            created_by=user,
        )


# --- New data: campaigns that watch a data-lake prefix ----------------------------------------


def _list_drives(uri: str) -> list[tuple[str, int, str]]:
    """(key, size, local path or URI) of every Parquet file under a file:// or s3:// prefix."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme == "file":
        root = Path(unquote(parsed.path))
        if not root.is_dir():
            return []
        return [
            (p.relative_to(root).as_posix(), p.stat().st_size, p.as_uri())
            for p in sorted(root.rglob("*.parquet"))
            if p.is_file()
        ]
    if parsed.scheme == "s3":
        from evidence.storage import S3Store

        store = S3Store(parsed.netloc, parsed.path)
        return [
            (o.key, o.size, f"{store.url}/{o.key}")
            for o in store.list()
            if o.key.endswith(".parquet")
        ]
    raise ValidationError({"watch_uri": f"unsupported URI {uri!r}"})


def watch_poll(campaign: Campaign) -> Run | None:
    """Start a run over the drives that landed under the campaign's prefix since the last poll.

    Each new drive becomes one case of a fresh parameter space; the run is recorded and judged
    like any other, by the campaign's author. Returns the run, or None when nothing is new.
    """

    if not campaign.watch_uri:
        return None
    return watch_land(campaign, _list_drives(campaign.watch_uri))


def watch_land(campaign: Campaign, drives: list[tuple[str, int, str]]) -> Run | None:
    """Start a run over those of ``drives`` the campaign has not seen yet.

    ``drives`` are (key under the watched prefix, size, URI), as a poll lists them or as S3
    announces them (:mod:`validation.ingestion`). A drive seen before adds nothing, so a poll
    repeated or a notification delivered twice starts no second run. Returns the run, or None
    when nothing is new.
    """
    from validation.models import LandedDrive

    seen = set(LandedDrive.objects.filter(campaign=campaign).values_list("key", flat=True))
    new = [d for d in drives if d[0] not in seen]
    if not new:
        return None
    new = [(key, size, _local_copy(campaign, key, uri)) for key, size, uri in new]
    with transaction.atomic():
        scenario, created = Scenario.objects.get_or_create(
            project=campaign.project,
            name=f"{campaign.name}-landed",
            defaults={"file_name": "", "sha256": _digest({"watch": campaign.watch_uri})},
        )
        if created:  # landed drives speak to the requirements the campaign's criteria judge
            scenario.requirements.set(
                {c.requirement_id for c in campaign.criteria.all() if c.requirement_id}
            )
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
        space = _drives_space(
            scenario,
            f"landed-{stamp}",
            [
                {"uri": uri, "key": key, "case": case}
                for key, _, uri in new
                for case in _cases_in(uri)
            ],
        )
        campaign.spaces.add(space)
        run = run_start(user=campaign.created_by, campaign=campaign, spaces=[space])
        LandedDrive.objects.bulk_create(
            [LandedDrive(campaign=campaign, key=key, size=size, run=run) for key, size, _ in new]
        )
    return run


def _cases_in(uri: str) -> list[str]:
    """The test cases recorded in a drive file (its distinct ``case_id`` values)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        column = pq.read_table(drive_path(uri), columns=["case_id"])["case_id"]
    except Exception as exc:  # pyarrow raises several types for a corrupt or foreign file
        raise ValidationError({"watch_uri": f"{uri}: not a track file ({exc})"}) from exc
    return sorted(str(v) for v in pc.unique(column).to_pylist())


def _local_copy(campaign: Campaign, key: str, uri: str) -> str:
    """Executors read local Parquet here; an S3 drive is fetched to the cache first."""
    if not uri.startswith("s3://"):
        return uri
    from urllib.parse import urlparse

    from evidence.storage import S3Store

    parsed = urlparse(campaign.watch_uri)
    target = Path(settings.VAR_DIR) / "lake-cache" / campaign.project.key / key
    S3Store(parsed.netloc, parsed.path).download_to(key, target)
    return target.as_uri()


# --- Failure search ---------------------------------------------------------------------------


def _search_space(scenario: Scenario, campaign: Campaign | None) -> tuple[dict, dict]:
    """Default ranges and fixed parameters of a scenario: from the campaign's (else any) sampled
    space of it; the fixed ones are what every case of that space shares outside the ranges."""
    spaces = scenario.spaces.exclude(kind__in=["deterministic", "regression"]).order_by("pk")
    if campaign is not None:
        spaces = spaces.filter(campaigns=campaign)
    for space in spaces:
        ranges = space.ranges if isinstance(space.ranges, dict) else {}
        if not ranges or "drives" in ranges or not space.cases:
            continue
        first = space.cases[0]
        fixed = {
            k: v
            for k, v in first.items()
            if k not in ranges and all(c.get(k) == v for c in space.cases)
        }
        return dict(ranges), fixed
    raise ValidationError({"ranges": f"Give the ranges to search: {scenario.name} has none."})


def failure_search(
    *,
    user,
    project: Project,
    criterion: AcceptanceCriterion,
    scenario: Scenario,
    campaign: Campaign | None = None,
    ranges: dict | None = None,
    fixed: dict | None = None,
    budget: int = 200,
    seed: int = 0,
    sampler: str = "tpe",
) -> FailureSearch:
    """Search ``scenario`` for the cases closest to failing ``criterion`` (:mod:`validation.search`)
    and record the search, labelled as one, with its failures in the ledger.

    The ranges default to the scenario's sampled space (the campaign's, when given) and are
    narrowed to the criterion's scope. A search is never a run: no verdict is computed from it.
    """
    require(user, project, Action.RUN)
    if criterion.project_id != project.pk:
        raise ValidationError(
            {"criterion": f"{criterion.code} is not a criterion of {project.key}."}
        )
    if scenario.project_id != project.pk:
        raise ValidationError({"scenario": f"{scenario.name} is not a scenario of {project.key}."})
    if campaign is not None and campaign.project_id != project.pk:
        raise ValidationError({"campaign": f"{campaign.name} is not a campaign of {project.key}."})
    try:
        space_ranges, space_fixed = _search_space(scenario, campaign)
    except ValidationError:
        if ranges is None:
            raise
        space_ranges, space_fixed = {}, {}
    ranges = space_ranges if ranges is None else ranges
    if not isinstance(ranges, dict):
        raise ValidationError({"ranges": "Give the ranges as an object: name -> [low, high]."})
    fixed = {**{k: v for k, v in space_fixed.items() if k not in ranges}, **(fixed or {})}
    try:
        ranges = failure_search_engine.clip_to_scope(ranges, criterion.scope)
        result = failure_search_engine.search(
            _criterion_spec(criterion),
            scenario.name,
            ranges,
            budget=budget,
            seed=seed,
            fixed=fixed,
            sampler=sampler,
        )
    except failure_search_engine.SearchError as exc:
        raise ValidationError({"search": str(exc)}) from exc
    except ExecutorError as exc:
        raise ValidationError({"search": f"a case could not be simulated: {exc}"}) from exc
    evaluations = [e.as_json() for e in result.evaluations]
    summary = result.as_json()
    digest = _digest(evaluations)
    failures = [
        {"case_id": e.case_id, "params": e.params, "margin": e.margin} for e in result.failures
    ]
    record = Record(
        EntryKind.VALIDATION_RESULT,
        [Subject(f"search:{criterion.code}:{scenario.name}:evaluations", digest)],
        {
            "kind": FailureSearch.KIND,
            "countsTowardVerdict": False,
            "campaign": campaign.name if campaign else None,
            "criterion": criterion.code,
            "scenario": scenario.name,
            "sampler": sampler,
            "seed": seed,
            "budget": budget,
            "ranges": result.ranges,
            "fixed": result.fixed,
            "simulationSeed": result.simulation_seed,
            "evaluated": len(evaluations),
            "failures": failures,
        },
    )
    with transaction.atomic():
        (entry,) = ledger.append(project, [record], user=user)
        return FailureSearch.objects.create(
            project=project,
            campaign=campaign,
            criterion=criterion,
            scenario=scenario,
            sampler=sampler,
            seed=seed,
            budget=budget,
            ranges=result.ranges,
            fixed=result.fixed,
            evaluations=evaluations,
            summary=summary,
            failures=len(failures),
            sha256=digest,
            entry=entry,
            created_by=user,
        )


def promote_failures(
    *, user, search: FailureSearch, case_ids: Sequence[str], campaign: Campaign | None = None
) -> ParameterSpace:
    """Copy failing cases of ``search`` into the regression space of its scenario in the
    campaign (deterministic cases, each keeping the simulation seed it failed with), with a
    ledger entry naming the search and the cases. Cases already there are not added twice."""
    project = search.project
    require(user, project, Action.RUN)
    campaign = campaign or search.campaign
    if campaign is None:
        raise ValidationError({"campaign": "Name the campaign to promote the failures into."})
    if campaign.project_id != project.pk:
        raise ValidationError({"campaign": f"{campaign.name} is not a campaign of {project.key}."})
    by_id = {e["case_id"]: e for e in search.evaluations}
    wanted = list(dict.fromkeys(case_ids))
    if not wanted:
        raise ValidationError({"cases": "Name at least one failing case of the search."})
    unknown = [c for c in wanted if c not in by_id]
    if unknown:
        raise ValidationError({"cases": f"Not cases of search {search.pk}: {', '.join(unknown)}."})
    passing = [c for c in wanted if not by_id[c]["failing"]]
    if passing:
        raise ValidationError({"cases": f"Only failing cases are promoted: {', '.join(passing)}."})
    seed = search.summary.get("simulation_seed", search.seed)
    name = f"{search.scenario.name}-regression"
    with transaction.atomic():
        space = (
            ParameterSpace.objects.select_for_update()
            .filter(scenario=search.scenario, name=name)
            .first()
        )
        cases = list(space.cases) if space else []
        added = []
        for cid in wanted:
            params = {**by_id[cid]["params"], SIMULATION_SEED: seed}
            if params not in cases:
                cases.append(params)
                added.append(cid)
        sha = _digest({"regression": cases})
        if space is None:
            space = ParameterSpace.objects.create(
                scenario=search.scenario, name=name, kind="deterministic", cases=cases, sha256=sha
            )
        else:
            space.cases, space.sha256 = cases, sha
            space.save(update_fields=["cases", "sha256"])
        campaign.spaces.add(space)
        ledger.append(
            project,
            [
                Record(
                    EntryKind.CHANGE,
                    [Subject(f"space:{search.scenario.name}:{name}", sha)],
                    {
                        "promotedFrom": {"search": search.pk, "entry": search.entry.index},
                        "campaign": campaign.name,
                        "space": name,
                        "cases": [
                            {"case_id": cid, "params": by_id[cid]["params"]} for cid in wanted
                        ],
                        "added": added,
                    },
                )
            ],
            user=user,
        )
        search.promoted = sorted(set(search.promoted) | set(wanted))
        search.save(update_fields=["promoted"])
    return space


# --- Events mined from recorded drives --------------------------------------------------------


def _drive_tracks_key(digest: str) -> str:
    return f"recorded-drives/{digest}.parquet"


@transaction.atomic
def mine_drive(
    *,
    user,
    project: Project,
    data: bytes,
    name: str,
    thresholds: mining.Thresholds | None = None,
) -> tuple[RecordedDrive, bool]:
    """Mine a recorded drive (CommonRoad XML or a Parquet drive, ``name`` as the user gave it)
    for events (:mod:`validation.mining`) and store the drive, its events and ONE ledger entry
    naming the drive's content digest and the events' digest, in one transaction.

    The drive's track table is kept in the store, content-addressed, so that its events replay
    as cases. Mining content the project has mined before changes nothing and returns the
    stored drive (``created`` False); with other thresholds it is refused.
    """
    import io

    import pyarrow.parquet as pq

    from evidence.storage import StorageError, default_store

    require(user, project, Action.EDIT)
    thresholds = thresholds or mining.Thresholds()
    digest = hashlib.sha256(data).hexdigest()
    # one mining of a project at a time: a drive mined twice at once is stored once
    Project.objects.select_for_update().filter(pk=project.pk).first()
    existing = RecordedDrive.objects.filter(project=project, sha256=digest).first()
    if existing is not None:
        if existing.thresholds != thresholds.as_json():
            raise ValidationError(
                {
                    "thresholds": f"{name}: this drive was mined as {existing.source_name} with "
                    "other thresholds; a drive is mined once per project"
                }
            )
        return existing, False
    try:
        table = mining.read_drive(data, name)
        events = mining.mine(table, digest, thresholds)
        exposure = mining.exposure(table, thresholds)
    except mining.MiningError as exc:
        raise ValidationError({"file": str(exc)}) from exc
    events_digest = mining.events_digest(events)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = _drive_tracks_key(digest)
    try:
        default_store().put_bytes(key, buffer.getvalue(), overwrite=False)
    except StorageError as exc:
        raise ValidationError({"file": f"{name}: its tracks cannot be stored ({exc})"}) from exc
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
    record = Record(
        EntryKind.DATASET,
        [
            Subject(f"recorded-drive:{name}", digest),
            Subject(f"recorded-drive:{name}:events", events_digest),
        ],
        {
            "kind": "recorded-drive",
            "source": name,
            "durationS": exposure["duration_s"],
            "distanceKm": exposure["distance_km"],
            "thresholds": thresholds.as_json(),
            "events": len(events),
            "eventsByKind": dict(sorted(kinds.items())),
        },
    )
    (entry,) = ledger.append(project, [record], user=user)
    drive = RecordedDrive.objects.create(
        project=project,
        source_name=name,
        sha256=digest,
        tracks_key=key,
        duration_s=exposure["duration_s"],
        distance_km=exposure["distance_km"],
        thresholds=thresholds.as_json(),
        events_sha256=events_digest,
        entry=entry,
        created_by=user,
    )
    RecordedEvent.objects.bulk_create(
        RecordedEvent(
            drive=drive,
            kind=e.kind,
            case=e.case,
            t_start=e.t_start,
            t_end=e.t_end,
            actors=list(e.actors),
            peak=e.peak,
            unit=e.unit,
            parameters=e.parameters,
        )
        for e in events
    )
    return drive, True


#: Seconds of recording replayed before and after a mined event.
EVENT_PADDING = 2.0


def _drive_uri(drive: RecordedDrive) -> str:
    from evidence.storage import default_store

    return f"{default_store().url}/{drive.tracks_key}"


@transaction.atomic
def events_space(
    *,
    user,
    project: Project,
    scenario: Scenario,
    name: str,
    drives: Sequence[RecordedDrive] | None = None,
    kinds: Sequence[str] | None = None,
    padding: float = EVENT_PADDING,
) -> ParameterSpace:
    """A parameter space of ``scenario`` whose concrete cases are mined events (of ``kinds``,
    default all) of recorded ``drives`` (default every drive of the project): each replays its
    drive's recording over the event's time span widened by ``padding`` s, with the event's
    subject as the ego, through the cases of a campaign like any recorded drive.

    The space names every drive it covers, with or without events, so that a run counts each
    drive's exposure once toward rate criteria (:func:`recorded_exposure`). Its digest covers
    the drives' and the events' digests and the spans; one ledger entry records it.
    """
    require(user, project, Action.EDIT)
    if scenario.project_id != project.pk:
        raise ValidationError({"scenario": f"{scenario.name} is not a scenario of {project.key}."})
    if not (isinstance(padding, int | float) and 0 <= padding <= 60):
        raise ValidationError({"padding": "Give the padding in seconds, 0 to 60."})
    unknown = sorted(set(kinds or ()) - set(mining.KINDS))
    if unknown:
        raise ValidationError({"kinds": f"Unknown event kind(s) {unknown}: use {mining.KINDS}."})
    drives = list(RecordedDrive.objects.filter(project=project) if drives is None else drives)
    if not drives:
        raise ValidationError({"drives": f"{project.key} has no mined drive to replay."})
    if any(d.project_id != project.pk for d in drives):
        raise ValidationError({"drives": f"Every drive must be a drive of {project.key}."})
    drives.sort(key=lambda d: d.sha256)
    events = RecordedEvent.objects.filter(drive__in=drives).select_related("drive")
    if kinds:
        events = events.filter(kind__in=kinds)
    cases = [
        {
            "uri": _drive_uri(e.drive),
            "case": e.case,
            "span": [round(max(e.t_start - padding, 0.0), 6), round(e.t_end + padding, 6)],
            "ego": e.actors[0],
            RECORDED_DRIVE: e.drive.sha256,
            "recorded_event": e.pk,
            "event": e.kind,
            "peak": e.peak,
        }
        for e in events.order_by("drive__sha256", "case", "t_start", "pk")
    ]
    space = _drives_space(scenario, name, cases, [d.sha256 for d in drives])
    record = Record(
        EntryKind.DATASET,
        [Subject(f"space:{scenario.name}:{name}", space.sha256)],
        {
            "kind": "mined-events",
            "scenario": scenario.name,
            "space": name,
            "drives": [{"sha256": d.sha256, "events": d.events_sha256} for d in drives],
            "kinds": sorted(kinds) if kinds else list(mining.KINDS),
            "paddingS": padding,
            "cases": len(cases),
        },
    )
    ledger.append(project, [record], user=user)
    return space
