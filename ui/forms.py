"""Forms of the web UI. They parse and check what a person typed; the services decide.

A service refuses a write with Django's ``ValidationError`` keyed by field;
:func:`apply_service_errors` puts each message beside the field it names, so the rule the
service enforces is what the person reads, in one place.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.urls import reverse

from compliance import iso26262
from compliance import selectors as compliance
from compliance.iso26262 import ConfirmationMeasure
from compliance.models import (
    AcceptanceCriterion,
    Baseline,
    Hazard,
    HazardousEvent,
    OperationalSituation,
    RequirementKind,
    RequirementStatus,
)
from evidence import selectors as evidence
from evidence.models import Artifact, ArtifactKind
from projects import jsonbody
from projects.selectors import member_users
from validation import selectors as validation
from validation.execution import registry
from validation.models import Executor, ParameterSpace, Scenario

BLANK = [("", "—")]
ASIL_FILTER = [("", "any"), *[(level, level) for level in iso26262.ASIL_LEVELS]]
COVERAGE = [("", "any"), ("verified", "verified"), ("unverified", "not verified")]
COVERAGE.append(("orphan", "no parent link"))


def apply_service_errors(form: forms.Form, exc: ValidationError, aliases=None) -> None:
    """Attach a service's ``ValidationError`` to ``form``: beside the field it names when the
    form has that field (or an alias of it), at the top of the form otherwise."""
    aliases = aliases or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for name, messages in exc.message_dict.items():
        target = aliases.get(name, name)
        if target in form.fields:
            form.add_error(target, messages)
        elif name == NON_FIELD_ERRORS:
            form.add_error(None, messages)
        else:
            form.add_error(None, [f"{name}: {m}" for m in messages])


def asil_preview(severity, exposure, controllability) -> str | None:
    """The ASIL of an S/E/C rating, or None while one of the three is missing or invalid."""
    try:
        return iso26262.determine_asil(severity, exposure, controllability)
    except ValueError:
        return None


CLASS_MEANING = {
    "S0": "no injuries",
    "S1": "light to moderate injuries",
    "S2": "severe injuries, survival probable",
    "S3": "life-threatening or fatal injuries",
    "E0": "incredible",
    "E1": "very low probability",
    "E2": "low probability",
    "E3": "medium probability",
    "E4": "high probability",
    "C0": "controllable in general",
    "C1": "simply controllable",
    "C2": "normally controllable",
    "C3": "difficult to control or uncontrollable",
}


def _choices(enum) -> list[tuple[str, str]]:
    return BLANK + [(m.value, f"{m.value} · {CLASS_MEANING.get(m.value, '')}") for m in enum]


class HazardousEventForm(forms.Form):
    """A row of the HARA: a hazard in a situation rated S, E and C, each with its reason."""

    code = forms.CharField(max_length=40, help_text="for example HE-07")
    hazard = forms.ModelChoiceField(queryset=Hazard.objects.none(), empty_label="—")
    situation = forms.ModelChoiceField(
        queryset=OperationalSituation.objects.none(), empty_label="—"
    )
    severity = forms.ChoiceField(choices=_choices(iso26262.Severity))
    severity_rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    exposure = forms.ChoiceField(choices=_choices(iso26262.Exposure))
    exposure_rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    controllability = forms.ChoiceField(choices=_choices(iso26262.Controllability))
    controllability_rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))

    RATING_FIELDS = ("severity", "exposure", "controllability")

    def __init__(self, *args, project, event: HazardousEvent | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.event = event
        self.fields["hazard"].queryset = compliance.hazard_choices(project=project)
        self.fields["situation"].queryset = compliance.situation_choices(project=project)
        live = {  # htmx asks the server for the ASIL as soon as a class is chosen
            "hx-get": reverse("ui:asil"),
            "hx-trigger": "change",
            "hx-target": "#asil-output",
            "hx-swap": "outerHTML",
            "hx-include": ", ".join(f"[name={n}]" for n in self.RATING_FIELDS),
            # one answer at a time: a newer choice cancels the request of an older one, so a
            # slow reply can never overwrite the ASIL of the latest S, E and C
            "hx-sync": "closest form:replace",
        }
        for name in self.RATING_FIELDS:
            self.fields[name].error_messages["required"] = f"Choose the {name} class."
            self.fields[name].widget.attrs.update(live)
        for name in ("severity_rationale", "exposure_rationale", "controllability_rationale"):
            self.fields[name].error_messages["required"] = "Every rating needs a rationale."
        if event is not None:  # the code names the event in the ledger: it stays
            self.fields["code"].disabled = True
            self.fields["code"].initial = event.code

    def clean_code(self):
        code = self.cleaned_data["code"].strip()
        if self.event is None and compliance.hazardous_event_exists(
            project=self.project, code=code
        ):
            raise ValidationError(f"{code} exists already; choose another code.")
        return code

    def asil(self) -> str | None:
        """What the chosen S, E and C give, from the bound data (also for an invalid form)."""
        values = [
            self.data.get(self.add_prefix(n)) if self.is_bound else None for n in self.RATING_FIELDS
        ]
        if not self.is_bound and self.event is not None:
            values = [getattr(self.event, n) for n in self.RATING_FIELDS]
        return asil_preview(*values)

    @classmethod
    def initial_from(cls, event: HazardousEvent) -> dict:
        names = ["code", *cls.RATING_FIELDS]
        names += ["severity_rationale", "exposure_rationale", "controllability_rationale"]
        initial = {n: getattr(event, n) for n in names}
        initial.update(hazard=event.hazard_id, situation=event.situation_id)
        return initial


class RequirementForm(forms.Form):
    """Edit a requirement. ``statuses`` are the status values offered: those the person's role
    may set, plus the current one (approving is a review, so an engineer is not offered it)."""

    title = forms.CharField(max_length=500, required=False)
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    asil = forms.CharField(label="ASIL", max_length=8, help_text="QM, A to D, or X(Y) such as B(D)")
    status = forms.ChoiceField(choices=RequirementStatus.choices)

    def __init__(self, *args, statuses=None, **kwargs):
        super().__init__(*args, **kwargs)
        if statuses is not None:
            self.fields["status"].choices = [
                (value, label) for value, label in RequirementStatus.choices if value in statuses
            ]
            if RequirementStatus.APPROVED not in statuses:
                self.fields["status"].help_text = "approved only by a safety manager's review"


class NewRequirementForm(forms.Form):
    code = forms.CharField(max_length=40, help_text="e.g. FSR-030")
    kind = forms.ChoiceField(choices=RequirementKind.choices)
    title = forms.CharField(max_length=500, required=False)
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    asil = forms.CharField(label="ASIL", max_length=8, help_text="QM, A to D, or X(Y) such as B(D)")
    parent = forms.CharField(
        max_length=40,
        required=False,
        help_text="the safety goal or requirement it derives from (code), if any",
    )


class ClearSuspectForm(forms.Form):
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the link still holds after the change.",
        error_messages={"required": "Say why the link still holds."},
    )


class MatrixFilterForm(forms.Form):
    asil = forms.ChoiceField(choices=ASIL_FILTER, required=False, label="ASIL")
    kind = forms.ChoiceField(choices=[("", "any"), *RequirementKind.choices], required=False)
    status = forms.ChoiceField(choices=[("", "any"), *RequirementStatus.choices], required=False)
    coverage = forms.ChoiceField(choices=COVERAGE, required=False)

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _declared(parameter: dict) -> dict:
    """The initial min, max, step and values of a declared parameter: from its declared range
    (``[low, high(, step)]`` or ``{"values": [...]}``), else from its default."""
    spec = parameter.get("range")
    if isinstance(spec, dict) and isinstance(spec.get("values"), list):
        return {"values": ", ".join(str(v) for v in spec["values"])}
    if isinstance(spec, list) and len(spec) in (2, 3):
        return dict(zip(("min", "max", "step"), spec, strict=False))
    default = _number(parameter.get("default"))
    return {"min": default, "max": default} if default is not None else {}


class SpaceForm(forms.Form):
    """Sample concrete cases of a scenario: a grid, seeded random or Latin hypercube.

    Each parameter the chosen scenario declares has its own fields: min, max and step for a
    range (step only counts for the grid), or the values of a discrete set, filled in from the
    scenario's declared range or default; a parameter left empty is not sampled. ``ranges``
    (JSON) remains for parameters the scenario does not declare."""

    scenario = forms.ModelChoiceField(queryset=Scenario.objects.none(), empty_label="—")
    name = forms.CharField(max_length=200)
    method = forms.ChoiceField(
        choices=[("grid", "Full grid"), ("random", "Seeded random"), ("lhs", "Latin hypercube")]
    )
    ranges = forms.CharField(
        label="Other ranges (JSON)",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text='only for parameters not listed above, e.g. {"friction": [0.3, 1.0]}',
    )
    fixed = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text='JSON of parameters every case keeps, e.g. {"scenario": "ccrs"}',
    )
    n = forms.IntegerField(min_value=1, max_value=100_000, initial=50, label="Cases")
    seed = forms.IntegerField(initial=0)

    def __init__(self, *args, project, scenario=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scenario"].queryset = validation.scenario_choices(project=project)
        if scenario is None and self.is_bound:
            chosen = self.data.get(self.add_prefix("scenario"))
            scenario = (
                self.fields["scenario"].queryset.filter(pk=chosen).first()
                if (str(chosen or "").isdigit())
                else None
            )
        self.scenario_obj = scenario
        if scenario is not None:
            self.fields["scenario"].initial = scenario.pk
        self.parameters = []  # (name, {part: bound field}) per declared parameter
        declared = scenario.parameters if scenario is not None else []
        for index, parameter in enumerate(p for p in declared if isinstance(p, dict)):
            name = str(parameter.get("name", ""))
            if not name:
                continue
            initial = _declared(parameter)
            parts = {}
            for part in ("min", "max", "step"):
                key = f"p{index}_{part}"
                self.fields[key] = forms.FloatField(
                    label=f"{name} {part}",
                    required=False,
                    initial=initial.get(part),
                    widget=forms.NumberInput(attrs={"aria-label": f"{name} {part}", "step": "any"}),
                )
                parts[part] = key
            key = f"p{index}_values"
            self.fields[key] = forms.CharField(
                label=f"{name} values",
                required=False,
                initial=initial.get("values"),
                widget=forms.TextInput(attrs={"aria-label": f"{name} values"}),
            )
            parts["values"] = key
            self.parameters.append((name, parts))

    def parameter_rows(self):
        """``(name, [bound fields])`` per declared parameter, for the template."""
        return [(name, [self[key] for key in parts.values()]) for name, parts in self.parameters]

    @staticmethod
    def _json_object(text: str, what: str) -> dict:
        try:
            value = jsonbody.loads(text or "{}", max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        except jsonbody.JSONRefused as exc:  # nested 100,000 deep is a message, not a 500
            raise ValidationError(str(exc)) from exc
        if not isinstance(value, dict):
            raise ValidationError(f"Give the {what} as a JSON object {{...}}.")
        return value

    def clean_ranges(self):
        return self._json_object(self.cleaned_data["ranges"], "ranges")

    def clean_fixed(self):
        return self._json_object(self.cleaned_data.get("fixed", ""), "fixed parameters")

    def _range_of(self, name: str, parts: dict):
        data = self.cleaned_data
        low, high, step = (data.get(parts[p]) for p in ("min", "max", "step"))
        values = [v.strip() for v in (data.get(parts["values"]) or "").split(",") if v.strip()]
        if values:
            if low is not None or high is not None:
                self.add_error(parts["values"], f"Give {name} a range or values, not both.")
            return {"values": [_parsed(v) for v in values]}
        if low is None and high is None:
            return None
        if low is None or high is None:
            self.add_error(parts["max" if high is None else "min"], f"Give {name} both ends.")
            return None
        if high < low:
            self.add_error(parts["max"], f"The {name} max is below its min.")
            return None
        if step is not None and step <= 0:
            self.add_error(parts["step"], f"The {name} step must be above 0.")
            return None
        return [low, high] if step is None else [low, high, step]

    def clean(self):
        data = super().clean()
        ranges = {}
        for name, parts in self.parameters:
            spec = self._range_of(name, parts)
            if spec is not None:
                ranges[name] = spec
        for name, spec in (data.get("ranges") or {}).items():
            if name in ranges:
                self.add_error("ranges", f"{name} has its fields above; leave it out here.")
            ranges[name] = spec
        if not ranges and not self.errors:
            raise ValidationError("Give at least one parameter range.")
        data["ranges"] = ranges
        return data


def _parsed(text: str):
    """A value of a discrete set: a number when it reads as one, the text otherwise."""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    spaces = forms.ModelMultipleChoiceField(
        queryset=ParameterSpace.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label="Parameter spaces",
        error_messages={"required": "Pick at least one parameter space."},
    )
    criteria = forms.ModelMultipleChoiceField(
        queryset=AcceptanceCriterion.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label="Acceptance criteria",
        error_messages={"required": "Pick at least one acceptance criterion."},
    )
    executor = forms.ChoiceField(
        choices=registry.configured_choices,
        initial=registry.DEFAULT,
        help_text="only the executors configured here",
    )
    cap = forms.IntegerField(min_value=1, initial=10_000, help_text="most cases a run executes")
    seed = forms.IntegerField(initial=0)
    shard_size = forms.IntegerField(min_value=1, initial=500, help_text="cases per task")
    sut_commit = forms.CharField(max_length=64, required=False, label="System under test commit")
    dataset = forms.ModelChoiceField(queryset=Artifact.objects.none(), required=False)
    model = forms.ModelChoiceField(queryset=Artifact.objects.none(), required=False)

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["spaces"].queryset = validation.parameter_space_choices(project=project)
        self.fields["spaces"].label_from_instance = lambda s: (
            f"{s.scenario.name} / {s.name} ({len(s.cases)} cases, {s.kind})"
        )
        self.fields["criteria"].queryset = compliance.criterion_choices(project=project)
        self.fields["criteria"].label_from_instance = lambda c: f"{c.code}: {c.description}"
        self.fields["dataset"].queryset = evidence.artifact_choices(
            project=project, kind=ArtifactKind.DATASET
        )
        self.fields["model"].queryset = evidence.artifact_choices(
            project=project, kind=ArtifactKind.MODEL
        )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if validation.campaign_exists(project=self.project, name=name):
            raise ValidationError(f"A campaign named {name} exists already.")
        return name


class RunStartForm(forms.Form):
    """The executor of a new run; left out, the run takes the campaign's default. Only the
    configured executors are offered; another one is refused by the run service, which says
    what it lacks."""

    executor = forms.ChoiceField(choices=Executor.choices, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["executor"].widget.choices = registry.configured_choices()


class BaselineFreezeForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="for example v1.1")


class BaselineDiffForm(forms.Form):
    old = forms.ModelChoiceField(queryset=Baseline.objects.none(), to_field_name="name")
    new = forms.ModelChoiceField(queryset=Baseline.objects.none(), to_field_name="name")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        baselines = compliance.baseline_choices(project=project)
        for name in ("old", "new"):
            self.fields[name].queryset = baselines
            self.fields[name].label_from_instance = lambda b: b.name
        self.fields["old"].label = "From"
        self.fields["new"].label = "To"


class PlotForm(forms.Form):
    """Which parameter and KPI the run's plots show, and the criterion that colours them."""

    x = forms.ChoiceField(required=False, label="Parameter")
    y = forms.ChoiceField(required=False, label="KPI")
    criterion = forms.ChoiceField(required=False)

    def __init__(self, *args, params, kpis, criteria, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["x"].choices = [(p, p) for p in params]
        self.fields["y"].choices = [(k, k) for k in kpis]
        self.fields["criterion"].choices = [("", "none")] + [(c, c) for c in criteria]

    def choice(self, name: str, default: str) -> str:
        if self.is_valid() and self.cleaned_data.get(name):
            return self.cleaned_data[name]
        return default


class ApprovalForm(forms.Form):
    """A confirmation measure signed by the requesting user (the reviewer)."""

    measure = forms.ChoiceField(choices=[(m.value, m.label) for m in ConfirmationMeasure])
    work_product = forms.CharField(max_length=200, help_text="what was reviewed, with its version")
    author = forms.ModelChoiceField(
        queryset=None, to_field_name="username", help_text="who wrote the work product"
    )
    asil = forms.CharField(
        label="ASIL", max_length=8, help_text="of the work product; decomposed ones keep the goal's"
    )
    outcome = forms.ChoiceField(
        choices=[
            ("confirmed", "Confirmed"),
            ("confirmed_with_findings", "Confirmed with findings"),
            ("not_confirmed", "Not confirmed"),
        ]
    )
    findings = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["author"].queryset = member_users(project=project)


class DecompositionForm(forms.Form):
    """Two redundant children of the requirement and the argument that they are independent."""

    first = forms.CharField(max_length=40, help_text="code of the first child, e.g. TSR-001")
    second = forms.CharField(max_length=40, help_text="code of the second child")
    elements = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), help_text="the sufficiently independent elements"
    )
    dependent_failure_analysis = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), help_text="the DFA the argument relies on"
    )


class CriterionForm(forms.Form):
    """A quantitative acceptance criterion: a rate per hour or km (given directly or broken
    down from an acceptable harm rate), or an allowed failure probability per test case."""

    code = forms.CharField(max_length=40, help_text="e.g. AC-05")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    goal = forms.ModelChoiceField(queryset=None, required=False, to_field_name="code")
    requirement = forms.ModelChoiceField(queryset=None, required=False, to_field_name="code")
    unit = forms.ChoiceField(
        choices=[("cases", "per test case"), ("h", "per hour"), ("km", "per km")]
    )
    allowed_failure_probability = forms.FloatField(required=False, help_text="per test case")
    hazardous_behaviour_rate = forms.FloatField(required=False, help_text="per hour or km")
    acceptable_harm_rate = forms.FloatField(required=False, help_text="A_H, per hour or km")
    p_exposure = forms.FloatField(required=False, label="P_E")
    p_not_controllable = forms.FloatField(required=False, label="P_C")
    p_severe = forms.FloatField(required=False, label="P_S")
    confidence = forms.FloatField(
        initial=0.95, min_value=0.5, max_value=0.999999, help_text="a fraction: 0.95 for 95 %"
    )
    tolerated_failures = forms.IntegerField(initial=0, min_value=0)
    kpi = forms.CharField(required=False, help_text="per-case KPI, e.g. min_ttc")
    comparator = forms.ChoiceField(
        required=False, choices=[("", "—"), (">", ">"), (">=", ">="), ("<", "<"), ("<=", "<=")]
    )
    threshold = forms.FloatField(required=False)
    scope = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='the cases it speaks about, e.g. {"scenarios": ["CCRs"], '
        '"parameters": {"ego_speed": [20, 50]}, "odd": {"surface": ["dry", "wet"]}}; '
        "empty for every case",
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["goal"].queryset = compliance.goal_choices(project=project)
        self.fields["requirement"].queryset = compliance.requirement_choices(project=project)
