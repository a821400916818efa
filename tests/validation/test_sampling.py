"""Grid, random and Latin hypercube sampling of parameter spaces."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from validation.sampling import (
    SamplingError,
    grid,
    grid_size,
    latin_hypercube,
    latin_hypercube_unit,
    random_sample,
    sample,
)

SPACE = {
    "ego_speed": (20.0, 50.0, 10.0),  # 20, 30, 40, 50
    "gap": (10.0, 40.0),  # continuous
    "surface": ["dry", "wet"],
}


def test_full_grid_order_and_values():
    cases = grid(SPACE, levels=3)
    assert len(cases) == grid_size(SPACE, levels=3) == 4 * 3 * 2
    expected = [
        {"ego_speed": v, "gap": g, "surface": s}
        for v, g, s in itertools.product(
            [20.0, 30.0, 40.0, 50.0], [10.0, 25.0, 40.0], ["dry", "wet"]
        )
    ]
    assert cases == expected


def test_grid_steps_include_the_upper_limit():
    cases = grid({"x": (0.0, 1.0, 0.1)})
    assert [c["x"] for c in cases] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert [c["x"] for c in grid({"x": (1.1, 1.5, 0.2)})] == [1.1, 1.3, 1.5]


def test_grid_single_level_and_degenerate_range():
    assert grid({"x": (0.0, 10.0)}, levels=1) == [{"x": 5.0}]
    assert grid({"x": (3.0, 3.0)}) == [{"x": 3.0}]


def test_grid_cap_keeps_a_seeded_subsample_in_grid_order():
    full = grid(SPACE, levels=5)  # 4 x 5 x 2 = 40
    capped = grid(SPACE, cap=7, seed=3, levels=5)
    assert len(capped) == 7
    positions = [full.index(c) for c in capped]
    assert positions == sorted(positions) and len(set(positions)) == 7
    assert grid(SPACE, cap=7, seed=3, levels=5) == capped
    assert grid(SPACE, cap=7, seed=4, levels=5) != capped
    assert grid(SPACE, cap=40, levels=5) == full
    assert grid(SPACE, cap=0) == []


def test_grid_cap_on_a_huge_grid_does_not_build_it():
    space = {f"p{i}": (0.0, 1.0, 0.001) for i in range(8)}  # 1001**8 points
    cases = grid(space, cap=5, seed=1)
    assert len(cases) == 5
    assert len({tuple(c.values()) for c in cases}) == 5
    assert all(0.0 <= v <= 1.0 for c in cases for v in c.values())


def test_random_sample_is_seeded_bounded_and_capped():
    a = random_sample(SPACE, 50, seed=1)
    assert a == random_sample(SPACE, 50, seed=1)
    assert a != random_sample(SPACE, 50, seed=2)
    assert len(a) == 50
    for c in a:
        assert 20.0 <= c["ego_speed"] <= 50.0  # a stepped range is continuous here
        assert 10.0 <= c["gap"] <= 40.0
        assert c["surface"] in ("dry", "wet")
    assert {c["surface"] for c in a} == {"dry", "wet"}
    assert len(random_sample(SPACE, 50, seed=1, cap=10)) == 10


@pytest.mark.parametrize("n", [1, 7, 20, 100])
def test_latin_hypercube_puts_one_sample_in_each_stratum(n):
    space = {"a": (0.0, 1.0), "b": (-5.0, 5.0), "c": (100.0, 130.0)}
    cases = latin_hypercube(space, n, seed=42)
    assert len(cases) == n
    for name, (low, high) in space.items():
        values = np.array([c[name] for c in cases])
        strata = np.floor((values - low) / (high - low) * n).astype(int)
        assert sorted(strata.tolist()) == list(range(n)), name


def test_latin_hypercube_unit_cube_and_seed():
    u = latin_hypercube_unit(10, 4, seed=5)
    assert u.shape == (10, 4)
    assert ((u >= 0) & (u < 1)).all()
    for j in range(4):
        assert sorted(np.floor(u[:, j] * 10).astype(int).tolist()) == list(range(10))
    assert np.array_equal(u, latin_hypercube_unit(10, 4, seed=5))
    assert not np.array_equal(u, latin_hypercube_unit(10, 4, seed=6))


def test_latin_hypercube_discrete_values_are_balanced():
    cases = latin_hypercube({"surface": ["dry", "wet", "icy", "snow"], "v": (0.0, 1.0)}, 20, seed=1)
    counts = {s: sum(c["surface"] == s for c in cases) for s in ("dry", "wet", "icy", "snow")}
    assert counts == {"dry": 5, "wet": 5, "icy": 5, "snow": 5}


def test_latin_hypercube_cap_stays_stratified():
    cases = latin_hypercube({"x": (0.0, 10.0)}, 50, seed=2, cap=8)
    assert len(cases) == 8
    strata = sorted(int(c["x"] / 10.0 * 8) for c in cases)
    assert strata == list(range(8))


def test_sample_dispatch():
    assert sample(SPACE, "grid", levels=2) == grid(SPACE, levels=2)
    assert sample(SPACE, "random", n=5, seed=9) == random_sample(SPACE, 5, seed=9)
    assert sample(SPACE, "lhs", n=5, seed=9) == latin_hypercube(SPACE, 5, seed=9)
    with pytest.raises(SamplingError, match="needs n"):
        sample(SPACE, "lhs")
    with pytest.raises(SamplingError, match="unknown sampling method"):
        sample(SPACE, "sobol", n=4)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({}, "empty"),
        ({"x": (5.0, 1.0)}, "below low"),
        ({"x": (0.0, 1.0, 0.0)}, "step must be positive"),
        ({"x": (0.0,)}, "a range is"),
        ({"x": []}, "empty list"),
        ({"x": "dry"}, "expected a"),
        ({"x": ("a", "b")}, "must be numbers"),
    ],
)
def test_bad_spaces_are_refused(space, message):
    with pytest.raises(SamplingError, match=message):
        grid(space)


def test_negative_counts_are_refused():
    with pytest.raises(SamplingError):
        random_sample(SPACE, -1)
    with pytest.raises(SamplingError):
        latin_hypercube(SPACE, 3, cap=-1)
