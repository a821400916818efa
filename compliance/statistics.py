"""Statistical validation targets for SOTIF acceptance criteria, in plain standard-library math.

Formulas from ``../shared/domain/REFERENCE.md`` §7 (zero-failure demonstration, Poisson /
chi-square bounds, Clopper-Pearson, RAND "Driving to Safety") and §6.1 (SOTIF Annex C
break-down of an acceptable harm rate). No SciPy or NumPy: the chi-square and beta quantiles are
found by bisection on the regularized incomplete gamma and beta functions, evaluated with
``math.lgamma`` in log space so that exposures of 10^7 trials and more stay accurate.

Units: a *rate* is events per unit of exposure (per hour, per mile, per km); the matching
*exposure* is in that same unit (hours, miles, km). Probabilities are per trial / per run.
The formulas assume independent events, a constant rate and exposure representative of the ODD
(REFERENCE.md §7, "Caveats"); miles from one ODD do not count for another.

The module shares its name with the standard library's ``statistics``; always import it as
``compliance.statistics`` (absolute imports keep ``from statistics import NormalDist`` below
pointing at the standard library).
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = [
    "beta_ppf",
    "binomial_cdf",
    "chi2_cdf",
    "chi2_ppf",
    "clopper_pearson_interval",
    "clopper_pearson_upper",
    "exposure_needed",
    "fleet_years",
    "poisson_interval",
    "poisson_upper_bound",
    "rand_improvement_exposure",
    "rand_precision_exposure",
    "regularized_beta",
    "regularized_gamma_p",
    "runs_needed",
    "sotif_hazardous_behaviour_rate",
    "zero_failure_exposure",
    "zero_failure_exposure_binomial",
]

_EPS = 1e-15  # relative convergence target of the series and continued fractions
_TINY = 1e-300  # guard against division by zero in the modified Lentz algorithm
_MAX_ITERATIONS = 1_000_000
_HOURS_PER_YEAR = 8760.0

# ---------------------------------------------------------------------------------------------
# Argument checks: every error names the argument.
# ---------------------------------------------------------------------------------------------


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _positive(name: str, value: object) -> float:
    number = _real(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def _open_probability(name: str, value: object) -> float:
    number = _real(name, value)
    if not 0.0 < number < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")
    return number


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Special functions
# ---------------------------------------------------------------------------------------------


def _gamma_p_series(a: float, x: float) -> float:
    """P(a, x) by its power series; converges quickly for x < a + 1."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(_MAX_ITERATIONS):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPS:
            return total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    raise ArithmeticError(f"incomplete gamma series did not converge for a={a}, x={x}")


def _gamma_q_fraction(a: float, x: float) -> float:
    """Q(a, x) = 1 - P(a, x) by its continued fraction (modified Lentz); for x >= a + 1."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h * math.exp(-x + a * math.log(x) - math.lgamma(a))
    raise ArithmeticError(f"incomplete gamma fraction did not converge for a={a}, x={x}")


def _gamma_pq(a: float, x: float) -> tuple[float, float]:
    """(P(a, x), Q(a, x)), the smaller of the two computed directly for accuracy."""
    if x <= 0.0:
        return 0.0, 1.0
    if x < a + 1.0:
        p = _gamma_p_series(a, x)
        return p, 1.0 - p
    q = _gamma_q_fraction(a, x)
    return 1.0 - q, q


def regularized_gamma_p(a: float, x: float) -> float:
    """Regularized lower incomplete gamma function P(a, x), for a > 0 and x >= 0."""
    a = _positive("a", a)
    x = _real("x", x)
    if x < 0:
        raise ValueError(f"x must be >= 0, got {x!r}")
    return _gamma_pq(a, x)[0]


def chi2_cdf(x: float, df: float) -> float:
    """Chi-square CDF with ``df`` degrees of freedom: P(df/2, x/2).

    For even df = 2k + 2 this equals P(Poisson(x/2) >= k + 1), the Poisson-gamma relation
    behind the Garwood bounds of REFERENCE.md §7.
    """
    df = _positive("df", df)
    x = _real("x", x)
    if x <= 0:
        return 0.0
    return _gamma_pq(df / 2.0, x / 2.0)[0]


def _bisect(increasing, lo: float, hi: float) -> float:
    """Root of an increasing function on [lo, hi] (sign change assumed), to full precision."""
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi or hi - lo <= _EPS * hi:
            return mid
        if increasing(mid) < 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def chi2_ppf(q: float, df: float) -> float:
    """Chi-square quantile: the x with chi2_cdf(x, df) = q, for 0 < q < 1 and df > 0.

    REFERENCE.md §7 writes it χ²(q; df); e.g. χ²(0.95; 6) = 12.59.
    """
    q = _open_probability("q", q)
    df = _positive("df", df)
    a = df / 2.0
    if q <= 0.5:

        def increasing(x: float) -> float:
            return _gamma_pq(a, x / 2.0)[0] - q

    else:
        tail = 1.0 - q

        def increasing(x: float) -> float:
            return tail - _gamma_pq(a, x / 2.0)[1]

    hi = max(1.0, df)
    while increasing(hi) < 0.0:
        hi *= 2.0
    return _bisect(increasing, 0.0, hi)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITERATIONS):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta fraction did not converge for a={a}, b={b}, x={x}")


def _beta_pq(x: float, a: float, b: float) -> tuple[float, float]:
    """(I_x(a, b), 1 - I_x(a, b)), the smaller computed directly; log-space prefactor."""
    if x <= 0.0:
        return 0.0, 1.0
    if x >= 1.0:
        return 1.0, 0.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        lower = math.exp(log_front) * _beta_fraction(a, b, x) / a
        return lower, 1.0 - lower
    upper = math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b
    return 1.0 - upper, upper


def regularized_beta(x: float, a: float, b: float) -> float:
    """Regularized incomplete beta function I_x(a, b), i.e. the Beta(a, b) CDF at x."""
    x = _real("x", x)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x!r}")
    return _beta_pq(x, _positive("a", a), _positive("b", b))[0]


def beta_ppf(q: float, a: float, b: float) -> float:
    """Beta(a, b) quantile (REFERENCE.md §7 writes it Beta⁻¹(q; a, b)), for 0 < q < 1.

    For integer a, b this is the binomial relation I_p(k + 1, n - k) = P(Bin(n, p) >= k + 1)
    used by Clopper-Pearson; the evaluation is in log space and works for n up to 10^7 and more.
    """
    q = _open_probability("q", q)
    a = _positive("a", a)
    b = _positive("b", b)
    if q <= 0.5:

        def increasing(x: float) -> float:
            return _beta_pq(x, a, b)[0] - q

    else:
        tail = 1.0 - q

        def increasing(x: float) -> float:
            return tail - _beta_pq(x, a, b)[1]

    return _bisect(increasing, 0.0, 1.0)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), via 1 - I_p(k + 1, n - k) (log space, any n)."""
    k = _count("k", k)
    n = _count("n", n)
    p = _real("p", p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if k >= n:
        return 1.0
    return _beta_pq(p, k + 1.0, float(n - k))[1]


# ---------------------------------------------------------------------------------------------
# Zero-failure demonstration (REFERENCE.md §7)
# ---------------------------------------------------------------------------------------------


def zero_failure_exposure(rate: float, confidence: float) -> float:
    """Exposure with zero events needed to show the true rate is <= ``rate`` at ``confidence``.

    REFERENCE.md §7: n = -ln(1 - C) / λ₀ (= χ²(C; 2) / (2λ₀)). ``rate`` is events per unit of
    exposure (e.g. 1.09e-8 per mile); the result is in that unit (miles).
    """
    rate = _positive("rate", rate)
    confidence = _open_probability("confidence", confidence)
    return -math.log1p(-confidence) / rate


def zero_failure_exposure_binomial(probability: float, confidence: float) -> float:
    """Binomial per-unit variant (RAND): n = ln(1 - C) / ln(1 - p₀) units with no event,
    unrounded (REFERENCE.md §7). ``probability`` is the per-unit (per-mile) event probability."""
    probability = _open_probability("probability", probability)
    confidence = _open_probability("confidence", confidence)
    return math.log1p(-confidence) / math.log1p(-probability)


def runs_needed(probability: float, confidence: float) -> int:
    """Pass/fail runs, all passing, needed to show the failure probability per run is
    <= ``probability`` at ``confidence``: ⌈ln(1 - C) / ln(1 - p₀)⌉ (REFERENCE.md §7).

    Example: p₀ = 1e-3 at 95 % gives 2994.2, so 2995 runs.
    """
    probability = _open_probability("probability", probability)
    confidence = _open_probability("confidence", confidence)
    log_miss = math.log1p(-confidence)
    log_pass = math.log1p(-probability)
    runs = max(1, math.ceil(log_miss / log_pass))
    # Guard against float noise just above an integer: n - 1 runs must really be too few.
    while runs > 1 and (runs - 1) * log_pass <= log_miss:
        runs -= 1
    return runs


# ---------------------------------------------------------------------------------------------
# k > 0 failures, Poisson (chi-square / Garwood), REFERENCE.md §7
# ---------------------------------------------------------------------------------------------


def poisson_upper_bound(failures: int, exposure: float, confidence: float) -> float:
    """One-sided upper confidence bound on a rate: λ_U = χ²(C; 2k + 2) / (2T).

    ``failures`` k events observed in ``exposure`` T (e.g. hours); result in events per unit.
    """
    k = _count("failures", failures)
    exposure = _positive("exposure", exposure)
    confidence = _open_probability("confidence", confidence)
    return chi2_ppf(confidence, 2 * k + 2) / (2.0 * exposure)


def poisson_interval(failures: int, exposure: float, confidence: float) -> tuple[float, float]:
    """Two-sided confidence interval on a rate (Garwood), REFERENCE.md §7:
    [χ²(α/2; 2k) / (2T), χ²(1 - α/2; 2k + 2) / (2T)] with α = 1 - C.

    The lower bound is 0 when k = 0 (the chi-square with 0 degrees of freedom is a point mass).
    """
    k = _count("failures", failures)
    exposure = _positive("exposure", exposure)
    alpha = 1.0 - _open_probability("confidence", confidence)
    lower = 0.0 if k == 0 else chi2_ppf(alpha / 2.0, 2 * k) / (2.0 * exposure)
    upper = chi2_ppf(1.0 - alpha / 2.0, 2 * k + 2) / (2.0 * exposure)
    return lower, upper


def exposure_needed(rate: float, confidence: float, failures: int = 0) -> float:
    """Exposure needed to demonstrate ``rate`` at ``confidence`` while tolerating ``failures``
    events: T = χ²(C; 2k + 2) / (2λ₀) (REFERENCE.md §7). k = 0 equals
    :func:`zero_failure_exposure`."""
    rate = _positive("rate", rate)
    confidence = _open_probability("confidence", confidence)
    k = _count("failures", failures)
    return chi2_ppf(confidence, 2 * k + 2) / (2.0 * rate)


# ---------------------------------------------------------------------------------------------
# Clopper-Pearson (binomial), REFERENCE.md §7
# ---------------------------------------------------------------------------------------------


def _trials(failures: int, trials: int) -> tuple[int, int]:
    k = _count("failures", failures)
    n = _count("trials", trials)
    if n == 0:
        raise ValueError("trials must be >= 1, got 0")
    if k > n:
        raise ValueError(f"failures ({k}) must not exceed trials ({n})")
    return k, n


def clopper_pearson_interval(failures: int, trials: int, confidence: float) -> tuple[float, float]:
    """Two-sided Clopper-Pearson interval for a per-trial failure probability:
    [Beta⁻¹(α/2; k, n - k + 1), Beta⁻¹(1 - α/2; k + 1, n - k)], with the lower bound 0 when
    k = 0 and the upper bound 1 when k = n (REFERENCE.md §7)."""
    k, n = _trials(failures, trials)
    alpha = 1.0 - _open_probability("confidence", confidence)
    lower = 0.0 if k == 0 else beta_ppf(alpha / 2.0, k, n - k + 1)
    upper = 1.0 if k == n else beta_ppf(1.0 - alpha / 2.0, k + 1, n - k)
    return lower, upper


def clopper_pearson_upper(failures: int, trials: int, confidence: float) -> float:
    """One-sided Clopper-Pearson upper bound Beta⁻¹(C; k + 1, n - k); for k = 0 the closed form
    1 - (1 - C)^(1/n) (REFERENCE.md §7)."""
    k, n = _trials(failures, trials)
    confidence = _open_probability("confidence", confidence)
    if k == n:
        return 1.0
    if k == 0:
        return -math.expm1(math.log1p(-confidence) / n)
    return beta_ppf(confidence, k + 1, n - k)


# ---------------------------------------------------------------------------------------------
# RAND "Driving to Safety" (Kalra & Paddock 2016), REFERENCE.md §7
# ---------------------------------------------------------------------------------------------


def rand_precision_exposure(rate: float, precision: float, confidence: float) -> float:
    """Exposure needed to estimate ``rate`` within ±``precision`` (relative, e.g. 0.2) at
    two-sided ``confidence``: n = (z_{1-α/2} / δ)² / λ (REFERENCE.md §7)."""
    rate = _positive("rate", rate)
    precision = _positive("precision", precision)
    alpha = 1.0 - _open_probability("confidence", confidence)
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    return (z / precision) ** 2 / rate


def rand_improvement_exposure(
    human_rate: float, improvement: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Exposure needed to show the AV rate is ``improvement`` (e.g. 0.2 = 20 %) below
    ``human_rate`` with one-sided significance ``alpha`` and ``power`` (RAND's choices are the
    defaults): n = λ_AV · ((z_{1-α} + z_power) / (λ_H - λ_AV))², λ_AV = λ_H · (1 - improvement)
    (REFERENCE.md §7). ``power=0.5`` drops the power term (z = 0), as jspieler's calculator does.
    """
    human_rate = _positive("human_rate", human_rate)
    improvement = _open_probability("improvement", improvement)
    alpha = _open_probability("alpha", alpha)
    power = _open_probability("power", power)
    av_rate = human_rate * (1.0 - improvement)
    normal = NormalDist()
    z_sum = normal.inv_cdf(1.0 - alpha) + normal.inv_cdf(power)
    return av_rate * (z_sum / (human_rate - av_rate)) ** 2


def fleet_years(
    exposure: float, vehicles: float, speed: float, hours_per_year: float = _HOURS_PER_YEAR
) -> float:
    """Calendar years for a fleet to accumulate ``exposure`` (distance) driving without pause:
    exposure / (vehicles · speed · hours_per_year). RAND's fleet is 100 vehicles at 25 mph,
    24/7/365 (8760 h), i.e. 21.9 M miles a year (REFERENCE.md §7)."""
    exposure = _positive("exposure", exposure)
    per_year = (
        _positive("vehicles", vehicles)
        * _positive("speed", speed)
        * _positive("hours_per_year", hours_per_year)
    )
    return exposure / per_year


# ---------------------------------------------------------------------------------------------
# SOTIF Annex C (ISO 21448), REFERENCE.md §6.1
# ---------------------------------------------------------------------------------------------


def _probability(name: str, value: object) -> float:
    number = _real(name, value)
    if not 0.0 < number <= 1.0:
        raise ValueError(f"{name} must be a probability in (0, 1], got {value!r}")
    return number


def sotif_hazardous_behaviour_rate(
    acceptable_harm_rate: float, p_exposure: float, p_not_controllable: float, p_severe: float
) -> float:
    """Acceptable rate of hazardous behaviour R_HB = A_H / (P_E · P_C · P_S) (REFERENCE.md §6.1).

    ``acceptable_harm_rate`` A_H (> 0, e.g. per hour) gives R_HB in the same unit; P_E is the
    probability of a relevant scenario given the behaviour, P_C that the event is not
    controllable, P_S of severe harm, each in (0, 1]. Feed the result to
    :func:`zero_failure_exposure` or :func:`exposure_needed` for the validation target.
    """
    harm = _positive("acceptable_harm_rate", acceptable_harm_rate)
    product = (
        _probability("p_exposure", p_exposure)
        * _probability("p_not_controllable", p_not_controllable)
        * _probability("p_severe", p_severe)
    )
    return harm / product
