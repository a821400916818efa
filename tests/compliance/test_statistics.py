"""Tests of compliance.statistics against the worked examples of REFERENCE.md §7 and §6.1.

Expected numbers are copied from ../shared/domain/REFERENCE.md (4 significant figures, computed
there with SciPy) or from DEMO_AEB.md and standard statistical tables; none are produced by the
code under test.
"""

import math

import pytest

from compliance.statistics import (
    beta_ppf,
    binomial_cdf,
    chi2_cdf,
    chi2_ppf,
    clopper_pearson_interval,
    clopper_pearson_upper,
    exposure_needed,
    fleet_years,
    poisson_interval,
    poisson_upper_bound,
    rand_improvement_exposure,
    rand_precision_exposure,
    regularized_beta,
    regularized_gamma_p,
    runs_needed,
    sotif_hazardous_behaviour_rate,
    zero_failure_exposure,
    zero_failure_exposure_binomial,
)

REL = 5e-4  # 4 significant figures
FATALITIES = 1.09e-8  # per mile (RAND, 1.09 per 100 M miles)
INJURIES = 77e-8
CRASHES = 190e-8
RAND_FLEET = {"vehicles": 100, "speed": 25}  # 100 vehicles at 25 mph, 24/7/365


def approx(value):
    return pytest.approx(value, rel=REL)


# --- helpers: chi-square and beta ------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "df", "expected"),
    [
        (0.95, 6, 12.59),  # REFERENCE.md §7 worked example 2
        (0.95, 1, 3.841),  # standard chi-square table values from here on
        (0.95, 2, 5.991),
        (0.95, 3, 7.815),
        (0.95, 10, 18.31),
        (0.99, 10, 23.21),
        (0.975, 6, 14.45),
        (0.025, 4, 0.4844),
        (0.05, 2, 0.1026),
        (0.5, 2, 1.386),
    ],
)
def test_chi2_ppf_table_values(q, df, expected):
    assert chi2_ppf(q, df) == approx(expected)


def test_chi2_ppf_large_degrees_of_freedom():
    # Median of chi-square with df = 2000 is about df - 2/3 (Wilson-Hilferty).
    assert chi2_ppf(0.5, 2000) == pytest.approx(2000 - 2 / 3, rel=1e-5)


@pytest.mark.parametrize("k", [0, 1, 2, 5, 20])
@pytest.mark.parametrize("x", [0.5, 3.0, 12.59, 40.0])
def test_chi2_cdf_even_df_equals_poisson_tail(k, x):
    # Poisson-gamma relation: chi2_cdf(x, 2k + 2) = P(Poisson(x / 2) >= k + 1).
    m = x / 2
    poisson_le_k = sum(math.exp(-m) * m**i / math.factorial(i) for i in range(k + 1))
    assert chi2_cdf(x, 2 * k + 2) == pytest.approx(1 - poisson_le_k, rel=1e-9, abs=1e-15)


def test_chi2_cdf_edges_and_gamma_p():
    assert chi2_cdf(0.0, 4) == 0.0
    assert chi2_cdf(-1.0, 4) == 0.0
    assert regularized_gamma_p(1.0, 2.0) == pytest.approx(1 - math.exp(-2.0), rel=1e-12)
    assert regularized_gamma_p(3.0, 0.0) == 0.0


@pytest.mark.parametrize(("q", "df"), [(0.0, 2), (1.0, 2), (1.5, 2), (0.5, 0), (0.5, -2)])
def test_chi2_ppf_rejects_bad_arguments(q, df):
    with pytest.raises(ValueError):
        chi2_ppf(q, df)


@pytest.mark.parametrize("n", [5, 10, 37])
@pytest.mark.parametrize("p", [0.01, 0.3, 0.5, 0.9])
def test_binomial_cdf_matches_direct_sum(n, p):
    for k in range(n + 1):
        direct = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
        assert binomial_cdf(k, n, p) == pytest.approx(direct, rel=1e-9, abs=1e-14)


def test_binomial_cdf_known_value():
    assert binomial_cdf(5, 10, 0.5) == pytest.approx(638 / 1024, rel=1e-12)
    assert binomial_cdf(0, 10**7, 1e-7) == pytest.approx((1 - 1e-7) ** 10**7, rel=1e-7)


def test_regularized_beta_closed_forms():
    # I_x(1, b) = 1 - (1 - x)^b ; I_x(a, 1) = x^a ; I_0.5(a, a) = 0.5
    assert regularized_beta(0.2, 1, 5) == pytest.approx(1 - 0.8**5, rel=1e-12)
    assert regularized_beta(0.7, 3, 1) == pytest.approx(0.7**3, rel=1e-12)
    assert regularized_beta(0.5, 40, 40) == pytest.approx(0.5, rel=1e-12)
    assert regularized_beta(0.0, 2, 3) == 0.0
    assert regularized_beta(1.0, 2, 3) == 1.0


def test_beta_ppf_closed_forms():
    # Beta(1, n): quantile 1 - (1 - q)^(1/n); Beta(a, 1): q^(1/a).
    assert beta_ppf(0.95, 1, 1000) == approx(2.991e-3)  # REFERENCE.md §7 example 3b
    assert beta_ppf(0.3, 4, 1) == pytest.approx(0.3**0.25, rel=1e-10)
    assert beta_ppf(0.5, 7, 7) == pytest.approx(0.5, rel=1e-10)


def test_beta_ppf_large_n_in_log_space():
    # n = 10^7, k = 0: generic inverse agrees with the closed form 1 - 0.05^(1/n).
    closed = 1 - 0.05 ** (1 / 10**7)
    assert beta_ppf(0.95, 1, 10**7) == pytest.approx(closed, rel=1e-6)
    assert closed == pytest.approx(2.996e-7, rel=REL)


@pytest.mark.parametrize(("q", "a", "b"), [(0.0, 1, 2), (1.0, 1, 2), (0.5, 0, 2), (0.5, 1, -1)])
def test_beta_ppf_rejects_bad_arguments(q, a, b):
    with pytest.raises(ValueError):
        beta_ppf(q, a, b)


# --- zero-failure demonstration (§7) ---------------------------------------------------------


def test_worked_example_1_zero_failure_miles_and_fleet_years():
    miles = zero_failure_exposure(FATALITIES, 0.95)
    assert miles == approx(2.748e8)
    assert fleet_years(miles, **RAND_FLEET) == approx(12.55)


@pytest.mark.parametrize(
    ("rate", "confidence", "expected_miles"),
    [
        (FATALITIES, 0.50, 6.359e7),
        (FATALITIES, 0.90, 2.112e8),
        (FATALITIES, 0.99, 4.225e8),
        (INJURIES, 0.95, 3.891e6),
        (CRASHES, 0.95, 1.577e6),
    ],
)
def test_zero_failure_miles_table(rate, confidence, expected_miles):
    assert zero_failure_exposure(rate, confidence) == approx(expected_miles)
    # The binomial per-mile form is practically identical for small p (REFERENCE.md §7).
    assert zero_failure_exposure_binomial(rate, confidence) == approx(expected_miles)


def test_rand_fleet_drives_21_9_million_miles_a_year():
    assert fleet_years(21.9e6, **RAND_FLEET) == pytest.approx(1.0, rel=1e-9)
    assert fleet_years(8760.0, vehicles=1, speed=1) == pytest.approx(1.0, rel=1e-12)


def test_demo_ac_01_unintended_braking_target():
    # DEMO_AEB.md AC-01: 1 per 10^6 km at 95 %, zero events: about 3.0 x 10^6 km.
    assert zero_failure_exposure(1e-6, 0.95) == pytest.approx(3.0e6, rel=2e-3)
    assert zero_failure_exposure(1e-6, 0.95) == approx(2.996e6)  # REFERENCE.md §7 #2b, k=0


@pytest.mark.parametrize(
    ("probability", "confidence", "expected"),
    [
        (1e-3, 0.95, 2995),  # REFERENCE.md §7 #3c and DEMO_AEB.md AC-02
        (1e-2, 0.90, 230),  # DEMO_AEB.md AC-03: ln(0.1) / ln(0.99) = 229.1
        (0.5, 0.75, 2),  # exact boundary: 0.5^2 = 0.25, so 2 runs suffice, not 3
        (0.5, 0.5, 1),
    ],
)
def test_runs_needed(probability, confidence, expected):
    assert runs_needed(probability, confidence) == expected


def test_runs_needed_unrounded_value_and_rule_of_three():
    assert zero_failure_exposure_binomial(1e-3, 0.95) == pytest.approx(2994.2, abs=0.05)
    assert 3 / 1e-3 == pytest.approx(runs_needed(1e-3, 0.95), rel=2e-3)


# --- Poisson with k failures (§7) ------------------------------------------------------------


def test_worked_example_2_poisson_bounds():
    assert poisson_upper_bound(2, 1.0e6, 0.95) == approx(6.296e-6)
    lower, upper = poisson_interval(2, 1.0e6, 0.95)
    assert lower == approx(2.422e-7)
    assert upper == approx(7.225e-6)


@pytest.mark.parametrize(
    ("failures", "expected_hours"),
    [(0, 2.996e6), (1, 4.744e6), (2, 6.296e6), (3, 7.754e6)],
)
def test_worked_example_2b_exposure_tolerating_failures(failures, expected_hours):
    assert exposure_needed(1e-6, 0.95, failures) == approx(expected_hours)


def test_poisson_zero_failures_lower_bound_is_zero_and_upper_matches_zero_failure_form():
    lower, upper = poisson_interval(0, 1000.0, 0.95)
    assert lower == 0.0
    # chi2(0.975; 2) / (2T) = -ln(0.025) / T
    assert upper == pytest.approx(-math.log(0.025) / 1000.0, rel=1e-9)
    assert poisson_upper_bound(0, 1000.0, 0.95) == pytest.approx(-math.log(0.05) / 1000.0)


@pytest.mark.parametrize(
    ("failures", "exposure", "confidence", "name"),
    [
        (-1, 1.0, 0.95, "failures"),
        (1.5, 1.0, 0.95, "failures"),
        (True, 1.0, 0.95, "failures"),
        (1, 0.0, 0.95, "exposure"),
        (1, -3.0, 0.95, "exposure"),
        (1, 1.0, 1.0, "confidence"),
        (1, 1.0, 0.0, "confidence"),
        (1, 1.0, float("nan"), "confidence"),
    ],
)
def test_poisson_rejects_bad_arguments(failures, exposure, confidence, name):
    with pytest.raises(ValueError, match=name):
        poisson_upper_bound(failures, exposure, confidence)
    with pytest.raises(ValueError, match=name):
        poisson_interval(failures, exposure, confidence)


# --- Clopper-Pearson (§7) --------------------------------------------------------------------


def test_worked_example_3_clopper_pearson():
    lower, upper = clopper_pearson_interval(3, 1000, 0.95)
    assert lower == approx(6.191e-4)
    assert upper == approx(8.742e-3)
    assert clopper_pearson_upper(3, 1000, 0.95) == approx(7.735e-3)


def test_worked_example_3b_zero_failures_and_rule_of_three():
    assert clopper_pearson_upper(0, 1000, 0.95) == approx(2.991e-3)
    assert 3 / 1000 == approx(3.000e-3)
    assert clopper_pearson_upper(0, 1000, 0.95) < 3 / 1000
    lower, upper = clopper_pearson_interval(0, 1000, 0.95)
    assert lower == 0.0
    assert upper == pytest.approx(1 - 0.025 ** (1 / 1000), rel=1e-9)


def test_clopper_pearson_all_failures():
    lower, upper = clopper_pearson_interval(10, 10, 0.95)
    assert upper == 1.0
    assert lower == pytest.approx(0.025 ** (1 / 10), rel=1e-9)
    assert clopper_pearson_upper(10, 10, 0.95) == 1.0


def test_clopper_pearson_ten_million_trials():
    # k = 5 in n = 10^7 approaches the Poisson bounds chi2(0.025; 10)/2n and chi2(0.975; 12)/2n.
    lower, upper = clopper_pearson_interval(5, 10**7, 0.95)
    assert lower == pytest.approx(3.247 / 2e7, rel=1e-3)
    assert upper == pytest.approx(23.34 / 2e7, rel=1e-3)
    assert clopper_pearson_upper(0, 10**7, 0.95) == approx(2.996e-7)
    mid_lower, mid_upper = clopper_pearson_interval(5 * 10**6, 10**7, 0.95)
    # Normal approximation: 0.5 +/- 1.96 * sqrt(0.25 / 10^7) = 0.5 +/- 3.099e-4
    assert mid_lower == pytest.approx(0.5 - 3.099e-4, rel=1e-5)
    assert mid_upper == pytest.approx(0.5 + 3.099e-4, rel=1e-5)


@pytest.mark.parametrize(
    ("failures", "trials", "name"),
    [(4, 3, "failures"), (0, 0, "trials"), (-1, 10, "failures"), (1, 2.0, "trials")],
)
def test_clopper_pearson_rejects_bad_arguments(failures, trials, name):
    with pytest.raises(ValueError, match=name):
        clopper_pearson_interval(failures, trials, 0.95)
    with pytest.raises(ValueError, match=name):
        clopper_pearson_upper(failures, trials, 0.95)


# --- RAND (§7) -------------------------------------------------------------------------------


def test_worked_example_4_rand_precision():
    miles = rand_precision_exposure(FATALITIES, 0.20, 0.95)
    assert miles == approx(8.811e9)
    assert fleet_years(miles, **RAND_FLEET) == approx(402.3)


def test_worked_example_5_rand_improvement():
    miles = rand_improvement_exposure(FATALITIES, 0.20, alpha=0.05, power=0.8)
    assert miles == approx(1.134e10)
    assert fleet_years(miles, **RAND_FLEET) == approx(518.0)
    assert rand_improvement_exposure(FATALITIES, 0.20) == approx(1.134e10)  # RAND defaults


def test_rand_improvement_without_power_term_matches_jspieler():
    # REFERENCE.md §7: omitting the power term gives about 4.96 billion miles.
    assert rand_improvement_exposure(FATALITIES, 0.20, power=0.5) == pytest.approx(4.96e9, rel=2e-3)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"human_rate": 0.0, "improvement": 0.2}, "human_rate"),
        ({"human_rate": 1e-8, "improvement": 0.0}, "improvement"),
        ({"human_rate": 1e-8, "improvement": 1.0}, "improvement"),
        ({"human_rate": 1e-8, "improvement": 0.2, "alpha": 0.0}, "alpha"),
        ({"human_rate": 1e-8, "improvement": 0.2, "power": 1.0}, "power"),
    ],
)
def test_rand_improvement_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        rand_improvement_exposure(**kwargs)


def test_rand_precision_rejects_bad_arguments():
    with pytest.raises(ValueError, match="precision"):
        rand_precision_exposure(FATALITIES, 0.0, 0.95)
    with pytest.raises(ValueError, match="rate"):
        rand_precision_exposure(-1.0, 0.2, 0.95)


# --- SOTIF Annex C (§6.1) and worked example 6 -----------------------------------------------


def test_worked_example_6_sotif_annex_c():
    rate = sotif_hazardous_behaviour_rate(1e-8, 0.05, 0.1, 0.5)
    assert rate == approx(4.000e-6)
    assert zero_failure_exposure(rate, 0.95) == approx(7.489e5)
    assert exposure_needed(rate, 0.95) == approx(7.489e5)


def test_sotif_accepts_probability_one():
    assert sotif_hazardous_behaviour_rate(1e-8, 1, 1.0, 1) == pytest.approx(1e-8)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((0.0, 0.05, 0.1, 0.5), "acceptable_harm_rate"),
        ((-1e-8, 0.05, 0.1, 0.5), "acceptable_harm_rate"),
        ((float("inf"), 0.05, 0.1, 0.5), "acceptable_harm_rate"),
        ((1e-8, 0.0, 0.1, 0.5), "p_exposure"),
        ((1e-8, 1.5, 0.1, 0.5), "p_exposure"),
        ((1e-8, 0.05, -0.1, 0.5), "p_not_controllable"),
        ((1e-8, 0.05, True, 0.5), "p_not_controllable"),
        ((1e-8, 0.05, 0.1, 0.0), "p_severe"),
        ((1e-8, 0.05, 0.1, None), "p_severe"),
        ((1e-8, 0.05, 0.1, "0.5"), "p_severe"),
    ],
)
def test_sotif_rejects_bad_arguments_naming_them(args, name):
    with pytest.raises(ValueError, match=name):
        sotif_hazardous_behaviour_rate(*args)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: zero_failure_exposure(0.0, 0.95), "rate"),
        (lambda: zero_failure_exposure(1e-6, 1.0), "confidence"),
        (lambda: zero_failure_exposure_binomial(1.0, 0.95), "probability"),
        (lambda: runs_needed(0.0, 0.95), "probability"),
        (lambda: runs_needed(1e-3, 0.0), "confidence"),
        (lambda: exposure_needed(1e-6, 0.95, -1), "failures"),
        (lambda: fleet_years(1e6, vehicles=0, speed=25), "vehicles"),
    ],
)
def test_zero_failure_functions_reject_bad_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()
