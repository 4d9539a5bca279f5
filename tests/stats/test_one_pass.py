"""Helpers rewritten for speed give exactly what the code they replace gave.

The spc run rules (`trend_runs`, `shift_runs`, `two_of_three`, the point sides) now
count runs in one pass, `holm_adjust` steps through a pilot's few p-values in plain
Python, and `coefficient_table` takes the t tails of all contrasts in one call. The
earlier code is kept here as the reference, so stored results cannot change.
"""

import math
from itertools import pairwise

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pilots.stats import spc
from pilots.stats.its import _period_grid, period_grid
from pilots.stats.several import _holm_numpy, _holm_steps, holm_adjust


def trend_runs_before(y, length):
    values = [float(v) for v in y]
    steps = [(b > a) - (b < a) for a, b in pairwise(values)]
    out = [0] * len(values)
    for end in range(length - 1, len(values)):
        window = steps[end - length + 1 : end]
        for direction in (1, -1):
            if window.count(direction) == len(window):
                for i in range(end - length + 1, end + 1):
                    out[i] = direction
    return out


def shift_runs_before(side, length):
    side = list(side)
    out = [0] * len(side)
    for end in range(length - 1, len(side)):
        window = side[end - length + 1 : end + 1]
        if window[0] != 0 and window.count(window[0]) == len(window):
            for i in range(end - length + 1, end + 1):
                out[i] = window[0]
    return out


def two_of_three_before(near, side):
    out = [False] * len(near)
    for i in range(len(near) - 2):
        if sum(near[i : i + 3]) >= 2 and abs(sum(side[i : i + 3])) == 3:
            for j in range(i, i + 3):
                out[j] = out[j] or near[j]
    return out


# Few distinct values, so that ties, runs and flat stretches are common.
SERIES = st.lists(st.integers(-3, 3).map(float), max_size=40)
LENGTHS = st.sampled_from(spc.ALLOWED_RUN_LENGTHS + (2, 3, 4, 5))


@given(SERIES, LENGTHS)
def test_trend_runs_as_before(values, length):
    assert spc.trend_runs(values, length) == trend_runs_before(values, length)


@given(st.lists(st.integers(-1, 1), max_size=40), LENGTHS)
def test_shift_runs_as_before(side, length):
    assert spc.shift_runs(side, length) == shift_runs_before(side, length)


@given(st.lists(st.tuples(st.booleans(), st.integers(-1, 1)), max_size=40))
def test_two_of_three_as_before(points):
    near = [n for n, _ in points]
    side = [s for _, s in points]
    assert spc.two_of_three(near, side) == two_of_three_before(near, side)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=30), st.floats(-5, 5))
def test_sides_by_comparison_as_by_difference(values, mean):
    assert spc._sides(values, mean) == [spc._side(v, mean) for v in values]


P_VALUES = st.one_of(st.none(), st.floats(0.0, 1.0), st.sampled_from([0.01, 0.02, 0.04, 0.5]))


@given(st.lists(P_VALUES, max_size=12))
def test_holm_in_plain_python_as_in_numpy(p_values):
    present = [p for p in p_values if p is not None]
    assert [q.hex() for q in _holm_steps(present)] == [q.hex() for q in _holm_numpy(present)]
    got = holm_adjust(p_values)
    assert [q is None for q in got] == [p is None for p in p_values]
    assert all(q is None or type(q) is float for q in got)


def test_remembered_grid_is_the_computed_grid():
    import datetime as dt

    months = [dt.date(2024, m, 1) for m in range(1, 13)]
    start = dt.date(2024, 6, 15)
    assert period_grid(months, start) == _period_grid(months, start)
    assert period_grid(months, start) is period_grid(list(months), start)
    # Integers and datetimes are not remembered (True == 1; equal datetimes may differ).
    assert period_grid([1, 2, 3], 2) == _period_grid([1, 2, 3], 2)
    assert math.isfinite(period_grid([1, 2, 3], 2).start)


def test_contrast_p_values_in_one_call_as_one_at_a_time():
    from scipy import special

    from pilots.stats.its import autocorrelation, coefficient_table, design_matrix, fit_ols_hac

    rng = np.random.default_rng(7)
    for n in (8, 12, 25, 40):
        names, x = design_matrix(list(range(n)), n // 2)
        y = rng.normal(10, 2, n) + 0.5 * (np.arange(n) >= n // 2)
        fit = fit_ols_hac(names, x, y, 2)
        table = coefficient_table(fit, True, False)
        for name in ("pre_slope", "level_change", "slope_change", "post_slope"):
            estimate, se = table[name], table[f"{name}_se"]
            expected = float(2 * special.stdtr(fit.df_resid, -abs(estimate) / se))
            assert table[f"{name}_p_value"] == expected
            quantile = float(special.stdtrit(fit.df_resid, 0.975))
            assert table[f"{name}_ci_low"] == estimate - quantile * se
        assert autocorrelation(fit, 2)["durbin_watson"] == float(
            (np.diff(fit.resid) ** 2).sum() / (fit.resid**2).sum()
        )
