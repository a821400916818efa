"""``ParameterValueDistribution`` files: deterministic ranges and sets, stochastic distributions."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from validation.openscenario.errors import ScenarioError
from validation.openscenario.parameters import LogicalScenario, convert_value
from validation.openscenario.parsing import _attr, _parse_xml, _read, parse_scenario

RANGE_TOLERANCE = 1e-9


def _clean(value: float) -> float:
    """Drop binary noise of repeated additions (1.1 + 2 * 0.2 -> 1.5, not 1.5000000000000002)."""
    return float(f"{value:.12g}")


def range_values(lower: float, upper: float, step: float) -> list[float]:
    """The values ``lower, lower + step, ...`` up to ``upper`` inclusive.

    The count is ``floor((upper - lower) / step + 1e-9) + 1`` so that an upper limit reached
    up to rounding error is included (0..1 step 0.1 gives 11 values); each value is rounded to
    12 significant digits.
    """
    lower, upper, step = float(lower), float(upper), float(step)
    if not all(math.isfinite(v) for v in (lower, upper, step)):
        raise ScenarioError("range limits and step must be finite")
    if step <= 0.0:
        raise ScenarioError(f"stepWidth must be positive, not {step}")
    if upper < lower:
        raise ScenarioError(f"range upperLimit {upper} is below lowerLimit {lower}")
    count = int(math.floor((upper - lower) / step + RANGE_TOLERANCE)) + 1
    if count > 10_000_000:
        raise ScenarioError(f"range {lower}..{upper} step {step} has too many values")
    return [_clean(lower + k * step) for k in range(count)]


@dataclass(frozen=True)
class StochasticSpec:
    """One ``StochasticDistribution``: parameter, kind and the numbers that define it."""

    parameter: str
    kind: str
    args: dict[str, Any]


@dataclass
class Distribution:
    """A loaded ``ParameterValueDistribution`` with its scenario."""

    path: Path | None
    scenario: LogicalScenario
    #: deterministic dimensions, each a list of alternative assignments (dicts of raw strings)
    dimensions: list[list[dict[str, Any]]] = field(default_factory=list)
    stochastic: list[StochasticSpec] = field(default_factory=list)
    number_of_test_runs: int | None = None
    random_seed: int | None = None

    @property
    def kind(self) -> str:
        return "stochastic" if self.stochastic else "deterministic"

    @property
    def varied(self) -> tuple[str, ...]:
        names: list[str] = []
        for dim in self.dimensions:
            for option in dim:
                names.extend(n for n in option if n not in names)
        names.extend(s.parameter for s in self.stochastic if s.parameter not in names)
        return tuple(names)

    def size(self) -> int:
        """Number of combinations before constraints are checked."""
        if self.stochastic:
            return int(self.number_of_test_runs or 0)
        return math.prod(len(d) for d in self.dimensions) if self.dimensions else 1


def _float_attr(el: etree._Element, name: str, what: str) -> float:
    raw = _attr(el, name, what)
    if raw.strip().startswith("$"):
        raise ScenarioError(f"{what}: parameter references in distributions are not supported")
    try:
        value = float(raw)
    except ValueError as exc:
        raise ScenarioError(f"{what}: {name}={raw!r} is not a number") from exc
    if not math.isfinite(value):
        raise ScenarioError(f"{what}: {name}={raw!r} is not finite")
    return value


def _range(el: etree._Element | None, what: str) -> tuple[float, float] | None:
    if el is None:
        return None
    lo, hi = _float_attr(el, "lowerLimit", what), _float_attr(el, "upperLimit", what)
    if hi < lo:
        raise ScenarioError(f"{what}: Range upperLimit {hi} is below lowerLimit {lo}")
    return lo, hi


def _stochastic_spec(el: etree._Element, what: str) -> StochasticSpec:
    name = _attr(el, "parameterName", what).lstrip("$")
    children = list(el)
    if len(children) != 1:
        raise ScenarioError(f"{what}: StochasticDistribution {name!r} needs one distribution")
    d = children[0]
    tag = d.tag
    label = f"{what}: {name}"
    if tag in ("NormalDistribution", "LogNormalDistribution"):
        variance = _float_attr(d, "variance", label)
        if variance < 0:
            raise ScenarioError(f"{label}: variance must not be negative")
        args = {
            "mean": _float_attr(d, "expectedValue", label),
            "std": math.sqrt(variance),
            "range": _range(d.find("Range"), label),
        }
        return StochasticSpec(name, "normal" if tag == "NormalDistribution" else "lognormal", args)
    if tag == "UniformDistribution":
        rng = _range(d.find("Range"), label)
        if rng is None:
            raise ScenarioError(f"{label}: UniformDistribution needs a Range")
        return StochasticSpec(name, "uniform", {"range": rng})
    if tag == "PoissonDistribution":
        mean = _float_attr(d, "expectedValue", label)
        if mean < 0:
            raise ScenarioError(f"{label}: expectedValue must not be negative")
        return StochasticSpec(
            name, "poisson", {"mean": mean, "range": _range(d.find("Range"), label)}
        )
    if tag == "Histogram":
        bins = []
        for b in d.findall("Bin"):
            r = _range(b.find("Range"), label)
            if r is None:
                raise ScenarioError(f"{label}: histogram bin without Range")
            bins.append((_float_attr(b, "weight", label), r))
        if not bins or sum(w for w, _ in bins) <= 0 or any(w < 0 for w, _ in bins):
            raise ScenarioError(f"{label}: histogram needs bins with non-negative weights")
        return StochasticSpec(name, "histogram", {"bins": bins})
    if tag == "ProbabilityDistributionSet":
        elements = [
            (_attr(e, "value", label), _float_attr(e, "weight", label))
            for e in d.findall("Element")
        ]
        if not elements or sum(w for _, w in elements) <= 0 or any(w < 0 for _, w in elements):
            raise ScenarioError(f"{label}: ProbabilityDistributionSet needs weighted elements")
        return StochasticSpec(name, "set", {"elements": elements})
    raise ScenarioError(f"{label}: unsupported distribution {tag!r}")


def _display(path: Path, limit: Path) -> str:
    """``path`` relative to the imported folder, with forward slashes."""
    return path.relative_to(limit).as_posix()


def load_distribution(
    source: str | Path | bytes,
    base_dir: str | Path | None = None,
    root: str | Path | None = None,
    name: str | None = None,
) -> Distribution:
    """Read a ``ParameterValueDistribution`` file and the scenario it references.

    The ``ScenarioFile filepath`` is resolved relative to the distribution file's folder (or
    ``base_dir`` for bytes), symbolic links followed. It may lie anywhere inside ``root`` (the
    folder the user imports; default: that same folder), for example in a sibling folder
    (``../Scenarios/...``) when ``root`` is their parent, never outside it; absolute paths and
    URLs are refused. ``name`` is how messages name the distribution file; the scenario file is
    named relative to ``root``, never by its absolute path. Every distributed parameter must be
    a global parameter of the scenario, else :class:`ScenarioError` names it.
    """
    data, path, what = _read(source, "distribution", name)
    doc = _parse_xml(data, what)
    pvd = doc.find("ParameterValueDistribution")
    if pvd is None:
        raise ScenarioError(f"{what}: no ParameterValueDistribution element")
    sf = pvd.find("ScenarioFile")
    if sf is None:
        raise ScenarioError(f"{what}: no ScenarioFile element")
    ref = _attr(sf, "filepath", what)
    if (
        re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", ref)
        or ref.startswith(("/", "\\"))
        or Path(ref).is_absolute()
    ):
        raise ScenarioError(f"{what}: ScenarioFile must be a relative path, not {ref!r}")
    if "\x00" in ref:
        raise ScenarioError(f"{what}: ScenarioFile {ref!r} is not a valid path")
    if base_dir is None:
        if path is None:
            raise ScenarioError(f"{what}: pass base_dir to resolve ScenarioFile {ref!r}")
        base_dir = path.parent
    base = Path(base_dir).resolve()
    limit = Path(root).resolve() if root is not None else base
    scenario_path = (base / ref.replace("\\", "/")).resolve()
    if not scenario_path.is_relative_to(limit):
        where = "the imported folder" if root is not None else "the distribution's folder"
        raise ScenarioError(
            f"{what}: ScenarioFile {ref!r} lies outside {where}; it must be a file inside it"
        )
    shown = _display(scenario_path, limit)
    if not scenario_path.is_file():
        raise ScenarioError(f"{what}: ScenarioFile {ref!r} not found (looked for {shown})")
    scenario = parse_scenario(scenario_path, name=shown)

    dist = Distribution(path=path, scenario=scenario)
    scenario_name = scenario.file_name or "the scenario"
    seen: set[str] = set()

    def claim(names: set[str], label: str) -> None:
        unknown = sorted(n for n in names if n not in scenario.parameters)
        if unknown:
            raise ScenarioError(
                f"{what}: {label} distributes parameter(s) that {scenario_name} does not "
                f"declare: {', '.join(unknown)}"
            )
        twice = sorted(names & seen)
        if twice:
            raise ScenarioError(f"{what}: parameter(s) distributed twice: {', '.join(twice)}")
        seen.update(names)

    det = pvd.find("Deterministic")
    sto = pvd.find("Stochastic")
    if (det is None) == (sto is None):
        raise ScenarioError(f"{what}: needs exactly one of Deterministic or Stochastic")
    if det is not None:
        for el in det:
            if el.tag == "DeterministicSingleParameterDistribution":
                name = _attr(el, "parameterName", what).lstrip("$")
                label = f"parameter {name!r}"
                claim({name}, label)
                ptype = scenario.parameters[name].type
                dset, drange = el.find("DistributionSet"), el.find("DistributionRange")
                if dset is not None:
                    raw = [_attr(e, "value", what) for e in dset.findall("Element")]
                    values = [convert_value(v, ptype, name) for v in raw]
                elif drange is not None:
                    step = _float_attr(drange, "stepWidth", f"{what}: {label}")
                    lim = _range(drange.find("Range"), f"{what}: {label}")
                    if lim is None:
                        raise ScenarioError(f"{what}: {label}: DistributionRange needs a Range")
                    values = [convert_value(v, ptype, name) for v in range_values(*lim, step)]
                else:
                    raise ScenarioError(f"{what}: {label}: unsupported deterministic distribution")
                if not values:
                    raise ScenarioError(f"{what}: {label}: distribution has no values")
                dist.dimensions.append([{name: v} for v in values])
            elif el.tag == "DeterministicMultiParameterDistribution":
                vsd = el.find("ValueSetDistribution")
                if vsd is None:
                    raise ScenarioError(f"{what}: multi-parameter distribution without value sets")
                options = []
                names: set[str] = set()
                for pvs in vsd.findall("ParameterValueSet"):
                    option = {}
                    for pa in pvs.findall("ParameterAssignment"):
                        name = _attr(pa, "parameterRef", what).lstrip("$")
                        option[name] = _attr(pa, "value", what)
                    names |= set(option)
                    options.append(option)
                if not options:
                    raise ScenarioError(f"{what}: ValueSetDistribution without ParameterValueSet")
                claim(names, "a ValueSetDistribution")
                typed = [
                    {n: convert_value(v, scenario.parameters[n].type, n) for n, v in o.items()}
                    for o in options
                ]
                dist.dimensions.append(typed)
            else:
                raise ScenarioError(f"{what}: unsupported element <{el.tag}> in Deterministic")
    else:
        runs = _attr(sto, "numberOfTestRuns", what)
        try:
            dist.number_of_test_runs = int(runs)
        except ValueError as exc:
            raise ScenarioError(f"{what}: numberOfTestRuns={runs!r} is not an integer") from exc
        if dist.number_of_test_runs < 0:
            raise ScenarioError(f"{what}: numberOfTestRuns must not be negative")
        seed = sto.get("randomSeed")
        if seed is not None:
            try:
                dist.random_seed = int(float(seed))
            except ValueError as exc:
                raise ScenarioError(f"{what}: randomSeed={seed!r} is not a number") from exc
        for el in sto.findall("StochasticDistribution"):
            spec = _stochastic_spec(el, what)
            claim({spec.parameter}, f"parameter {spec.parameter!r}")
            dist.stochastic.append(spec)
        if not dist.stochastic:
            raise ScenarioError(f"{what}: Stochastic without StochasticDistribution")
    return dist
