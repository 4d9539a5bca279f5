"""Difference in differences (design `did`): Card & Krueger, CRV1 by hand, permutation."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pilots.stats.did import difference_in_differences


def panel(changes_pilot, changes_comparison, pre=0.0):
    """One row before (period 0) and one after (period 1) per unit."""
    rows = []
    for arm, changes in (("pilot", changes_pilot), ("comparison", changes_comparison)):
        for i, change in enumerate(changes):
            rows += [(f"{arm}{i}", arm, 0, pre), (f"{arm}{i}", arm, 1, pre + change)]
    return rows


def cell_panel(means, n_units=10, spread=1.5):
    """Units whose cell means are exactly `means` (arm, post) -> value."""
    rows = []
    for arm in ("pilot", "comparison"):
        for i in range(n_units):
            # Deviations that sum to zero in every cell, different before and after.
            before = spread * (i - (n_units - 1) / 2)
            after = spread * ((i * 3) % n_units - (n_units - 1) / 2)
            rows.append((f"{arm}{i}", arm, 0, means[arm, False] + before))
            rows.append((f"{arm}{i}", arm, 1, means[arm, True] + after))
    return rows


def test_card_krueger_table_3_difference_in_differences():
    # Card & Krueger (1994) AER 84(4):772-793, Table 3, row 1-2, FTE employment per
    # store: NJ 20.44 before, 21.03 after; PA 23.33 before, 21.17 after. The printed
    # DiD is 2.76 (from unrounded means); the printed cell means give 2.75, so the
    # check is exact against the means and within their rounding (4 x 0.005) of 2.76.
    means = {
        ("pilot", False): 20.44,
        ("pilot", True): 21.03,
        ("comparison", False): 23.33,
        ("comparison", True): 21.17,
    }
    result = difference_in_differences(cell_panel(means), 1)
    assert result.details["inference"] == "cluster"
    assert round(result.estimate, 2) == 2.75
    assert abs(result.estimate - 2.76) <= 4 * 0.005
    # Table 3 row 3: change in mean FTE, NJ 0.59 and PA -2.16.
    assert round(0.59 - (-2.16), 2) == round(result.estimate, 2)


def crv1_by_hand(x, y, groups):
    """Cameron & Miller (2015) eq. 11 with Stata's c = G/(G-1) (N-1)/(N-K)."""
    n, k = x.shape
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    resid = y - x @ beta
    bread = np.linalg.inv(x.T @ x)
    meat = np.zeros((k, k))
    labels = np.unique(groups)
    for g in labels:
        score = x[groups == g].T @ resid[groups == g]
        meat += np.outer(score, score)
    g_count = len(labels)
    c = g_count / (g_count - 1) * (n - 1) / (n - k)
    return beta, c * bread @ meat @ bread


def random_panel(n_pilot=12, n_comparison=14, periods=4, seed=7, effect=1.5):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_pilot + n_comparison):
        arm = "pilot" if u < n_pilot else "comparison"
        level = rng.normal(scale=2)
        for t in range(periods):
            post = t >= periods // 2
            value = level + 0.3 * t + (effect if (post and arm == "pilot") else 0)
            rows.append((f"u{u:03d}", arm, t, value + rng.normal()))
    return rows


def test_cluster_errors_match_crv1_by_hand():
    rows = random_panel()
    result = difference_in_differences(rows, 2)
    arm = np.array([r[1] == "pilot" for r in rows], dtype=float)
    post = np.array([r[2] >= 2 for r in rows], dtype=float)
    x = np.column_stack([np.ones_like(arm), arm, post, arm * post])
    y = np.array([r[3] for r in rows])
    beta, cov = crv1_by_hand(x, y, np.array([r[0] for r in rows]))
    assert result.details["inference"] == "cluster"
    assert result.estimate == pytest.approx(beta[3], rel=1e-10)
    assert result.se == pytest.approx(np.sqrt(cov[3, 3]), rel=1e-10)


def test_agrees_with_a_direct_statsmodels_call():
    rows = random_panel(seed=8)
    result = difference_in_differences(rows, 2)
    frame = pd.DataFrame(rows, columns=["unit", "arm", "t", "y"])
    frame["arm"] = (frame["arm"] == "pilot").astype(float)
    frame["post"] = (frame["t"] >= 2).astype(float)
    fit = smf.ols("y ~ arm * post", data=frame).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(frame["unit"])[0]}, use_t=True
    )
    assert result.estimate == pytest.approx(fit.params["arm:post"])
    assert result.p_value == pytest.approx(fit.pvalues["arm:post"])
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(fit.conf_int().loc["arm:post"]))


def test_exact_permutation_by_hand():
    # Three pilot units changed by 4, 5, 6; four comparison units by 0, 1, 2, 3.
    # DiD = 5 - 1.5 = 3.5. Choosing 3 pilot units of 7 (C(7,3) = 35 ways) with change
    # sum S gives DiD = S/3 - (21 - S)/4 = (7 S - 63) / 12; |DiD| >= 3.5 only for
    # {4,5,6} (S = 15) and {0,1,2} (S = 3): the exact two-sided p-value is 2/35.
    result = difference_in_differences(panel([4, 5, 6], [0, 1, 2, 3]), 1)
    assert result.details["inference"] == "permutation"
    assert result.details["exact"] is True
    assert result.details["assignments"] == 35
    assert result.estimate == pytest.approx(3.5)
    assert result.p_value == pytest.approx(2 / 35)
    assert result.se is None
    assert result.ci_low < 3.5 < result.ci_high
    assert "few_clusters" in [w.code for w in result.warnings]


def test_mirrored_halves_cannot_reject_and_are_insufficient():
    # 3 v 3 units: the mirror assignment is always as extreme as the real one, so
    # p >= 2/20 = 0.1 for any effect, however large.
    result = difference_in_differences(panel([30, 40, 50], [0, 1, 2]), 1)
    assert not result.sufficient
    assert "too_few_units" in [w.code for w in result.warnings]


def test_single_pilot_unit_uses_placebo_inference():
    # One pilot unit (change 100) against 19 comparison units (changes 0..18): each of
    # the 20 units in turn plays the pilot; only the real one is as extreme -> p = 1/20.
    result = difference_in_differences(panel([100], list(range(19))), 1)
    assert result.details["inference"] == "placebo"
    assert result.method == "did_placebo"
    assert result.estimate == pytest.approx(100 - 9)
    assert result.p_value == pytest.approx(0.05)


def test_too_few_units_for_any_permutation_is_insufficient():
    result = difference_in_differences(panel([3, 4], [0, 1]), 1)
    assert not result.sufficient
    assert result.estimate is None
    assert "too_few_units" in [w.code for w in result.warnings]


def test_sampled_permutations_are_deterministic():
    rows = random_panel(n_pilot=6, n_comparison=24, seed=3)
    first = difference_in_differences(rows, 2)
    second = difference_in_differences(list(reversed(rows)), 2)
    assert first.details["exact"] is False
    assert first.details["seed"] is not None
    assert first.details["assignments"] == 5001
    assert first.p_value == second.p_value
    assert (first.ci_low, first.ci_high) == (second.ci_low, second.ci_high)


def test_permutation_interval_inverts_the_test():
    rows = random_panel(n_pilot=5, n_comparison=9, seed=4, effect=3.0)
    result = difference_in_differences(rows, 2)
    assert result.details["inference"] == "permutation"
    assert result.ci_low < result.estimate < result.ci_high
    shifted = [(u, a, t, v - result.ci_low * (a == "pilot" and t >= 2)) for u, a, t, v in rows]
    # At the interval's edge the shifted data sit at the 5 % boundary of the test.
    assert difference_in_differences(shifted, 2).p_value == pytest.approx(0.05, abs=0.01)


def test_pre_trend_failure_warns():
    rng = np.random.default_rng(1)
    rows = []
    for u in range(24):
        arm = "pilot" if u < 12 else "comparison"
        slope = 2.0 if arm == "pilot" else 0.0
        for t in range(6):
            rows.append((u, arm, t, slope * t + rng.normal(scale=0.5)))
    result = difference_in_differences(rows, 3)
    assert result.details["pre_trend_p_value"] < 0.05
    assert result.details["pre_trend_slope_difference"] == pytest.approx(2.0, abs=0.3)
    assert "pre_trend" in [w.code for w in result.warnings]


def test_parallel_pre_trends_do_not_warn():
    result = difference_in_differences(random_panel(periods=6, seed=12), 3)
    assert result.details["pre_trend_p_value"] > 0.05
    assert result.warnings == ()


def test_one_pre_period_cannot_test_pre_trends():
    result = difference_in_differences(random_panel(), 1)
    assert result.details["pre_trend_p_value"] is None
    assert "pre_trend_untestable" in [w.code for w in result.warnings]


def test_empty_cell_is_insufficient():
    rows = [r for r in random_panel() if not (r[1] == "comparison" and r[2] >= 2)]
    result = difference_in_differences(rows, 2)
    assert not result.sufficient
    assert result.warnings[-1].code == "empty_cell"


def test_unit_in_both_arms_is_insufficient():
    rows = random_panel() + [("u000", "comparison", 3, 1.0)]
    result = difference_in_differences(rows, 2)
    assert not result.sufficient
    assert result.warnings[0].code == "unit_in_both_arms"


value = st.floats(min_value=-50, max_value=50, allow_nan=False)


@st.composite
def panels(draw):
    n_units = draw(st.integers(min_value=7, max_value=24))
    values = draw(st.lists(value, min_size=2 * n_units, max_size=2 * n_units))
    rows = []
    for u in range(n_units):
        arm = "pilot" if u % 2 else "comparison"
        rows += [(u, arm, 0, values[2 * u]), (u, arm, 1, values[2 * u + 1])]
    return rows


@settings(max_examples=20, deadline=None)
@given(rows=panels(), shift=st.floats(min_value=-1e3, max_value=1e3))
def test_shifting_values_leaves_the_estimate_unchanged(rows, shift):
    base = difference_in_differences(rows, 1)
    assume(base.sufficient)
    moved = difference_in_differences([(u, a, t, v + shift) for u, a, t, v in rows], 1)
    assert moved.estimate == pytest.approx(base.estimate, abs=1e-8)
    assert moved.p_value == pytest.approx(base.p_value, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(rows=panels(), factor=st.floats(min_value=0.01, max_value=100))
def test_rescaling_values_rescales_the_estimate(rows, factor):
    base = difference_in_differences(rows, 1)
    assume(base.sufficient)
    scaled = difference_in_differences([(u, a, t, v * factor) for u, a, t, v in rows], 1)
    assert scaled.estimate == pytest.approx(base.estimate * factor, rel=1e-9, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(rows=panels())
def test_swapping_arms_flips_the_sign(rows):
    swap = {"pilot": "comparison", "comparison": "pilot"}
    base = difference_in_differences(rows, 1)
    assume(base.sufficient)
    swapped = difference_in_differences([(u, swap[a], t, v) for u, a, t, v in rows], 1)
    assert swapped.estimate == pytest.approx(-base.estimate, abs=1e-9)
    assert swapped.p_value == pytest.approx(base.p_value)


@st.composite
def ragged_panels(draw):
    """10-16 units an arm over 3-8 periods, each unit missing some periods."""
    rng = np.random.default_rng(draw(st.integers(min_value=0, max_value=2**32 - 1)))
    periods = draw(st.integers(min_value=3, max_value=8))
    rows = []
    for arm in ("pilot", "comparison"):
        for u in range(draw(st.integers(min_value=10, max_value=16))):
            level = rng.normal(scale=3)
            for t in range(periods):
                if rng.random() < 0.2:
                    continue
                rows.append((f"{arm}{u}", arm, t, level + 0.5 * t + rng.normal()))
    return rows, periods // 2


@settings(max_examples=25, deadline=None)
@given(panel=ragged_panels())
def test_sums_per_unit_give_the_statsmodels_cluster_fits(panel):
    """The fits written out on per-unit sums equal statsmodels' formula fits.

    Reference: statsmodels 0.15 `ols(...).fit(cov_type="cluster", use_t=True)`, the
    call this module made before it worked on sums: `y ~ arm * post` on every row, and
    `y ~ arm * t` on the rows before the start for the pre-trend check.
    """
    rows, start = panel
    result = difference_in_differences(rows, start)
    frame = pd.DataFrame(rows, columns=["unit", "arm", "t", "y"])
    frame["arm"] = (frame["arm"] == "pilot").astype(float)
    frame["post"] = (frame["t"] >= start).astype(float)
    cells = frame.groupby(["arm", "post"]).size()
    assume(len(cells) == 4 and result.details.get("inference") == "cluster")

    def fit(data, formula):
        groups = pd.factorize(data["unit"])[0]
        return smf.ols(formula, data=data).fit(
            cov_type="cluster", cov_kwds={"groups": groups}, use_t=True
        )

    main = fit(frame, "y ~ arm * post")
    assert result.estimate == pytest.approx(main.params["arm:post"], rel=1e-9, abs=1e-12)
    assert result.se == pytest.approx(main.bse["arm:post"], rel=1e-9)
    assert result.p_value == pytest.approx(main.pvalues["arm:post"], rel=1e-8, abs=1e-14)
    ci = tuple(main.conf_int().loc["arm:post"])
    assert (result.ci_low, result.ci_high) == pytest.approx(ci, rel=1e-9)
    pre = frame[frame["post"] == 0]
    if pre.groupby("arm")["t"].nunique().min() >= 2:
        trend = fit(pre, "y ~ arm * t")
        slope = result.details["pre_trend_slope_difference"]
        assert slope == pytest.approx(trend.params["arm:t"], rel=1e-9, abs=1e-12)
        p_value = result.details["pre_trend_p_value"]
        assert p_value == pytest.approx(trend.pvalues["arm:t"], rel=1e-8, abs=1e-14)
    else:
        assert result.details["pre_trend_p_value"] is None
