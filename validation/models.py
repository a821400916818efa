"""Scenario catalog, validation campaigns, runs, per-case results and verdicts."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from compliance import scope as criterion_scope
from compliance.models import AcceptanceCriterion, Requirement, TriggeringCondition
from evidence.models import Artifact, LogEntry
from projects.models import Project
from validation.execution import registry


class Scenario(models.Model):
    """A logical scenario (OpenSCENARIO 1.x) with its declared parameters and constraints."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="scenarios")
    name = models.CharField(max_length=200)
    file_name = models.CharField(max_length=300, blank=True)
    sha256 = models.CharField(max_length=64, help_text="digest of the scenario file")
    parameters = models.JSONField(default=list, help_text="declared parameters and defaults")
    odd_tags = models.JSONField(default=list, blank=True)
    sotif_area = models.PositiveSmallIntegerField(null=True, blank=True)
    requirements = models.ManyToManyField(Requirement, blank=True, related_name="scenarios")
    triggering_conditions = models.ManyToManyField(TriggeringCondition, blank=True)
    catalog_references = models.JSONField(
        default=list,
        blank=True,
        help_text="CatalogReference elements resolved at the defaults: catalog, entry, kind, "
        "assignments and the entry's parameter values",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="scenario_name")]

    def __str__(self) -> str:
        return self.name


class ScenarioCatalog(models.Model):
    """An OpenSCENARIO catalog file (vehicles, controllers, maneuvers, ...) as imported.

    Scenarios resolve their ``CatalogReference`` elements against it by its ``Catalog`` name;
    the file is kept so a later import can resolve against it again.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="scenario_catalogs")
    name = models.CharField(max_length=200, help_text="the Catalog element's name")
    file_name = models.CharField(max_length=300)
    sha256 = models.CharField(max_length=64, help_text="digest of the catalog file")
    kinds = models.JSONField(default=list, help_text="entry kinds: vehicle, maneuver, ...")
    entries = models.JSONField(default=list, help_text="entries with declared parameters")
    content = models.BinaryField(help_text="the catalog file as imported")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="scenario_catalog_name")
        ]

    def __str__(self) -> str:
        return self.name


class ParameterSpace(models.Model):
    """Concrete cases of a scenario: from a ParameterValueDistribution file or a sampling."""

    scenario = models.ForeignKey(Scenario, on_delete=models.PROTECT, related_name="spaces")
    name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=20, help_text="deterministic, stochastic or ranges")
    ranges = models.JSONField(default=dict, blank=True, help_text="name -> [low, high] or values")
    cases = models.JSONField(default=list, blank=True)
    discarded = models.PositiveIntegerField(default=0)
    seed = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scenario", "name"], name="space_name")]

    def __str__(self) -> str:
        return f"{self.scenario} / {self.name}"


class Sampling(models.TextChoices):
    DISTRIBUTION = "distribution", "As the distribution file gives"
    GRID = "grid", "Full grid"
    RANDOM = "random", "Seeded random"
    LHS = "lhs", "Seeded Latin hypercube"


#: Where a campaign's cases run (``Executor.LOCAL``, ...): the executor registry's list.
Executor = models.TextChoices(
    "Executor", [(name.upper(), (name, label)) for name, label in registry.choices()]
)


class Campaign(models.Model):
    """What to validate: scenarios x system version x model x dataset, and the criteria."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    spaces = models.ManyToManyField(ParameterSpace, related_name="campaigns")
    sut_commit = models.CharField("system under test (commit)", max_length=64, blank=True)
    model = models.ForeignKey(
        Artifact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dataset = models.ForeignKey(
        Artifact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sampling = models.CharField(
        max_length=16, choices=Sampling.choices, default=Sampling.DISTRIBUTION
    )
    seed = models.BigIntegerField(default=0)
    cap = models.PositiveIntegerField(default=10_000)
    executor = models.CharField(max_length=16, choices=Executor.choices, default=registry.DEFAULT)
    criteria = models.ManyToManyField(AcceptanceCriterion, related_name="campaigns")
    shard_size = models.PositiveIntegerField(default=500)
    watch_uri = models.CharField(
        max_length=500,
        blank=True,
        help_text="run on every new Parquet drive that lands under this file:// or s3:// prefix",
    )
    coverage_plan = models.JSONField(
        default=dict,
        blank=True,
        help_text="bins, goal per bin, parameters and ODD dimensions to cover "
        "(validation.coverage.clean_plan); every parameter in 5 bins when empty",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="campaign_name")]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Run(models.Model):
    """One execution of a campaign; shards of cases run as Celery tasks."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    executor = models.CharField(max_length=16, choices=Executor.choices)
    cases_total = models.PositiveIntegerField(default=0)
    shards_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    inputs = models.JSONField(default=dict, help_text="digests of everything the run used")
    cases = models.JSONField(default=list, help_text="the concrete cases of this run")
    job_name = models.CharField(max_length=200, blank=True)
    entry = models.OneToOneField(
        LogEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.campaign}"


class LandedDrive(models.Model):
    """A drive file seen under a watched prefix, and the run it triggered."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="landed")
    key = models.CharField(max_length=1000)
    size = models.BigIntegerField()
    seen_at = models.DateTimeField(auto_now_add=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "key"], name="landed_once")]

    def __str__(self) -> str:
        return self.key


class CaseResult(models.Model):
    """The KPIs of one test case in one run; unique, so a redelivered shard adds nothing."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="results")
    shard = models.PositiveIntegerField()
    case_id = models.CharField(max_length=200)
    scenario = models.CharField(max_length=200)
    params = models.JSONField(default=dict)
    kpis = models.JSONField(default=dict)

    class Meta:
        ordering = ["run", "case_id"]
        constraints = [models.UniqueConstraint(fields=["run", "case_id"], name="caseresult_once")]
        indexes = [models.Index(fields=["run", "shard"], name="caseresult_shard")]

    def __str__(self) -> str:
        return self.case_id


class Verdict(models.Model):
    """Pass, fail, inconclusive or not judged (no case in scope) for one acceptance criterion,
    with its statistics and what it was judged on."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="verdicts")
    criterion = models.ForeignKey(AcceptanceCriterion, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=16)
    failures = models.PositiveIntegerField()
    trials = models.PositiveIntegerField()
    exposure = models.FloatField(null=True, blank=True)
    upper_bound = models.FloatField()
    target = models.FloatField(help_text="cases or exposure needed to demonstrate the criterion")
    progress = models.FloatField(help_text="share of the validation target reached, 0..1")
    scope = models.JSONField(default=dict, blank=True, help_text="the criterion's scope as judged")
    cases_in_scope = models.PositiveIntegerField(default=0)
    cases_out_of_scope = models.PositiveIntegerField(default=0)
    judged_sha256 = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the sorted ids of the judged cases"
    )
    scenarios = models.JSONField(
        default=list,
        blank=True,
        help_text="per scenario: cases, in scope, judged and failing",
    )
    coverage = models.JSONField(
        default=dict,
        blank=True,
        help_text="the coverage of the judged cases under the campaign's plan, as the run's "
        "ledger entry states its digest (validation.coverage.measure)",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "criterion"], name="verdict_once")]

    def __str__(self) -> str:
        return f"{self.criterion}: {self.verdict}"

    @property
    def scope_description(self) -> str:
        """The scope the criterion was judged in, in words."""
        return criterion_scope.describe(self.scope)


class Comparison(models.Model):
    """A regression check of a head run against a base run, recorded in the ledger: which
    criteria regressed and which cases flipped (the report of :mod:`validation.comparison`)."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="comparisons")
    base = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="+")
    head = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="+")
    regressed = models.BooleanField()
    report = models.JSONField(help_text="the comparison's report, as recorded")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the canonical report")
    entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"run {self.head_id} against run {self.base_id}"


class FailureSearch(models.Model):
    """A failure search (:mod:`validation.search`): the cases an adaptive sampler chose to come
    close to failing a criterion. Labelled as a search and kept apart from runs: its cases are
    no random sample, so no verdict is ever computed from them. Its failures are in the ledger."""

    KIND = "search"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="searches")
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="searches"
    )
    criterion = models.ForeignKey(AcceptanceCriterion, on_delete=models.PROTECT, related_name="+")
    scenario = models.ForeignKey(Scenario, on_delete=models.PROTECT, related_name="searches")
    kind = models.CharField(max_length=16, default=KIND, editable=False)
    sampler = models.CharField(max_length=16)
    seed = models.BigIntegerField()
    budget = models.PositiveIntegerField()
    ranges = models.JSONField(help_text="the ranges searched, inside the criterion's scope")
    fixed = models.JSONField(default=dict, blank=True)
    evaluations = models.JSONField(help_text="every evaluated case: params, KPIs and margin")
    summary = models.JSONField(help_text="worst cases, failure boundary, first failure")
    failures = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the canonical evaluations")
    entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")
    promoted = models.JSONField(default=list, blank=True, help_text="case ids promoted")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"failure search {self.pk} on {self.criterion}"
