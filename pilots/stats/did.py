"""Difference in differences for the `did` design.

A pilot with a comparison arm measured before and after the start asks: did the
pilot arm change more than the comparison arm? This module fits `y ~ arm * post` by
ordinary least squares; the interaction is the effect. Rows of the same unit are not
independent, so errors are clustered by unit. Cluster-robust errors need many
clusters in each arm; with few pilot units they are badly anti-conservative
(Conley & Taber 2011; MacKinnon & Webb 2017), so below a threshold the p-value and
interval come from permutation inference instead (treatment reassigned among units,
exactly when the assignments are few enough to list, else a seeded random sample), or,
with one pilot unit, from placebo runs on each comparison unit. A pre-trend check
(arm x time before the start) goes in `details`. It returns a `MethodEstimate`.

Both models are saturated in the arm, so everything they need is a handful of sums
per unit (`UnitPanel`): rows and the sum of values before and after the start, and
the moments of time before it. The fits are written out on those sums (normal
equations and the CRV1 sandwich, Cameron & Miller 2015 eq. 11), which gives the
statsmodels results (`tests/stats/test_did.py` checks both) in a fraction of the time
a formula fit takes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
from scipy import special

from pilots.stats.its import Period, period_grid
from pilots.stats.result import DataWarning, MethodEstimate

# Cluster-robust inference only when both arms have at least this many units.
# MacKinnon & Webb (2017, J Appl Econometrics 32:233-254) show CRVE t-tests over-reject
# severely when treated clusters are few (rejection rates far above 5 % with 1-5
# treated clusters, still inflated below ~10); permutation inference is exact under
# exchangeability at any size, so the cost of choosing it too often is small.
MIN_CLUSTERS_PER_ARM = 10
# Listing every assignment up to this many; above it, a seeded random sample of this
# size (the Monte Carlo error of a p-value near 0.05 is then about 0.003).
MAX_EXACT_ASSIGNMENTS = 5000
PERMUTATIONS = 5000
SEED = 20240601
# Pre-trend p-value under which the parallel-trends assumption is called into doubt.
PRE_TREND_ALPHA = 0.05

# 1/0 and True/False hash alike, so these keys also accept booleans.
ARMS = {"pilot": 1, "comparison": 0, 1: 1, 0: 0}

TOO_FEW_UNITS = "too_few_units"
EMPTY_CELL = "empty_cell"
UNIT_IN_BOTH_ARMS = "unit_in_both_arms"
PRE_TREND = "pre_trend"
PRE_TREND_UNTESTABLE = "pre_trend_untestable"
FEW_CLUSTERS = "few_clusters"
NON_FINITE_VALUES = "non_finite_values"
ZERO_VARIANCE = "zero_variance"

_SUMS = ("n_pre", "sum_pre", "n_post", "sum_post", "t_pre", "tt_pre", "ty_pre")


@dataclass(frozen=True)
class UnitPanel:
    """The sums per unit (units in name order) that both models need.

    `arm` is 1.0 for a pilot unit; `n_pre`/`sum_pre` and `n_post`/`sum_post` count and
    add the unit's values before and on or after the start; `t_pre`, `tt_pre` and
    `ty_pre` add t, t squared and t times the value over its rows before the start
    (t = period number). `both_arms` counts units that appear in both arms.
    """

    arm: np.ndarray
    n_pre: np.ndarray
    sum_pre: np.ndarray
    n_post: np.ndarray
    sum_post: np.ndarray
    t_pre: np.ndarray
    tt_pre: np.ndarray
    ty_pre: np.ndarray
    both_arms: int = 0

    @property
    def rows(self) -> int:
        return int(np.add.reduce(self.n_pre) + np.add.reduce(self.n_post))

    @cached_property
    def value_scale(self) -> float:
        """`_scale` of the panel, remembered: both fits compare their SE with it."""
        return _scale(self)

    @cached_property
    def arm_sums(self) -> dict[float, dict[str, float]]:
        """`arm_sums` of the panel, remembered: the cell totals and the pre-trend check
        both read them."""
        return arm_sums(self)


# The columns whose sums over an arm's units the cell totals and the pre-trend check read.
_ARM_COLUMNS = ("n_pre", "sum_pre", "n_post", "sum_post", "t_pre", "tt_pre")


def arm_sums(panel: UnitPanel) -> dict[float, dict[str, float]]:
    """Per arm (1.0 pilot, 0.0 comparison): each `_ARM_COLUMNS` column summed over its units.

    The sums `np.add.reduce(column[panel.arm == arm])` gives, bit for bit: each arm's
    units are picked from all six columns at once and every row is added along the
    array's fast axis, which numpy sums pairwise just as it does one column. (By
    `compress`, which writes a C-ordered copy: `columns[:, mask]` may come out
    Fortran-ordered, and numpy then adds each row one by one, not pairwise.) A did
    metric needs a dozen of these sums, and one numpy call per sum cost more than the
    adding.
    """
    columns = np.array([getattr(panel, name) for name in _ARM_COLUMNS])
    sums = {}
    for arm in (1.0, 0.0):
        units = columns.compress(panel.arm == arm, axis=1)
        totals = np.add.reduce(units, axis=1).tolist()
        sums[arm] = dict(zip(_ARM_COLUMNS, totals, strict=True))
    return sums


def unit_panel(
    rows: Sequence[tuple[Any, Any, Period, float]], start: Period
) -> tuple[UnitPanel, list[DataWarning]]:
    """Rows (unit, arm, period, value) summed per unit, with the non-finite rows left out."""
    warnings: list[DataWarning] = []
    kept = [r for r in rows if r[3] is not None and math.isfinite(float(r[3]))]
    if len(kept) < len(rows):
        warnings.append(DataWarning(NON_FINITE_VALUES, {"count": len(rows) - len(kept)}))
    # The grid of the distinct periods numbers every row (fewer periods than rows).
    periods = list(dict.fromkeys(r[2] for r in kept))
    grid = period_grid(periods, start)
    number = dict(zip(periods, grid.numbers, strict=True))
    names = sorted({str(r[0]) for r in kept})
    index = {name: i for i, name in enumerate(names)}
    code = np.fromiter((index[str(r[0])] for r in kept), dtype=np.intp, count=len(kept))
    arm = np.fromiter((ARMS[r[1]] for r in kept), dtype=float, count=len(kept))
    t = np.fromiter((number[r[2]] for r in kept), dtype=float, count=len(kept))
    y = np.fromiter((float(r[3]) for r in kept), dtype=float, count=len(kept))
    pre = t < grid.start
    size = len(names)

    def add(weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(code[mask], weights[mask], minlength=size)

    ones = np.ones_like(y)
    pilot_rows = add(arm, ones > 0)
    all_rows = add(ones, ones > 0)
    both = int(np.sum((pilot_rows > 0) & (pilot_rows < all_rows)))
    panel = UnitPanel(
        arm=(pilot_rows > 0).astype(float),
        n_pre=add(ones, pre),
        sum_pre=add(y, pre),
        n_post=add(ones, ~pre),
        sum_post=add(y, ~pre),
        t_pre=add(t, pre),
        tt_pre=add(t * t, pre),
        ty_pre=add(t * y, pre),
        both_arms=both,
    )
    return panel, warnings


@lru_cache(maxsize=64)
def _t_quantile(df: float) -> float:
    """The t distribution's 97.5 % point; a pilot's units fix df, so it repeats."""
    return float(special.stdtrit(df, 0.975))


def _t_inference(estimate: float, se: float, df: float) -> tuple[float | None, float, float]:
    """Two-sided p-value and 95 % interval of a t statistic with `df` degrees of freedom."""
    if se == 0:
        return None, estimate, estimate
    quantile = _t_quantile(df)
    p_value = float(2 * special.stdtr(df, -abs(estimate) / se))
    return p_value, estimate - quantile * se, estimate + quantile * se


def crv1_fit(xx: np.ndarray, xy: np.ndarray, rows: float) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and CRV1 covariance from per-cluster X'X (G x K x K) and X'y (G x K).

    Cameron & Miller (2015) eq. 11 with c = G/(G-1) (N-1)/(N-K), as Stata and
    statsmodels' `cov_type="cluster"`: each cluster's score is X_g'e_g = X_g'y_g -
    X_g'X_g b, so the sums per unit are all the fit needs.
    """
    groups, k = xy.shape
    bread = np.linalg.inv(xx.sum(axis=0))
    beta = bread @ xy.sum(axis=0)
    scores = xy - xx @ beta
    meat = scores.T @ scores
    c = groups / (groups - 1) * (rows - 1) / (rows - k)
    return beta, c * bread @ meat @ bread


def interaction_fit(
    arm: np.ndarray,
    n: np.ndarray,
    sx: np.ndarray,
    sxx: np.ndarray,
    sy: np.ndarray,
    sxy: np.ndarray,
) -> tuple[float, float, int]:
    """`y ~ arm * x` by OLS clustered by unit, from per-unit sums: (interaction, SE, df).

    The columns are [1, a, x, a x] = kron([1, x], [1, a]) with a fixed per unit, so a
    unit's X'X is kron([[n, sx], [sx, sxx]], [[1, a], [a, a]]) and its X'y is
    kron([sy, sxy], [1, a]). CRV1 (Cameron & Miller 2015 eq. 11) with c = G/(G-1)
    (N-1)/(N-K), t with G - 1 degrees of freedom, as statsmodels' `cov_type="cluster"`
    with `use_t=True`. Units without rows take no part, as in a regression on the rows.
    """
    used = n > 0
    # count_nonzero rather than .all(): the same answer without ndarray.all's wrappers.
    if np.count_nonzero(used) < len(used):
        a, n, sx, sxx, sy, sxy = (v[used] for v in (arm, n, sx, sxx, sy, sxy))
    else:
        a = arm
    groups = len(n)
    # Filled column by column: the same arrays np.stack would build, at a third of
    # the cost (this runs twice per metric on every evaluation).
    moments = np.empty((groups, 2, 2))
    moments[:, 0, 0], moments[:, 0, 1], moments[:, 1, 0], moments[:, 1, 1] = n, sx, sx, sxx
    arms = np.empty((groups, 2))
    arms[:, 0], arms[:, 1] = 1.0, a
    sums = np.empty((groups, 2))
    sums[:, 0], sums[:, 1] = sy, sxy
    outer = arms[:, :, None] * arms[:, None, :]
    xx = (moments[:, :, None, :, None] * outer[:, None, :, None, :]).reshape(groups, 4, 4)
    xy = (sums[:, :, None] * arms[:, None, :]).reshape(groups, 4)
    rows = float(np.add.reduce(n))
    bread = np.linalg.inv(np.add.reduce(xx, axis=0))
    beta = bread @ np.add.reduce(xy, axis=0)
    scores = xy - xx @ beta
    c = groups / (groups - 1) * (rows - 1) / (rows - 4)
    cov = c * bread @ (scores.T @ scores) @ bread
    return float(beta[3]), math.sqrt(max(float(cov[3, 3]), 0.0)), groups - 1


def cluster_inference(
    panel: UnitPanel,
) -> tuple[float, float, float | None, float, float]:
    """The DiD (the `arm:post` coefficient): estimate, SE, p-value and 95 % CI."""
    estimate, se, df = interaction_fit(
        panel.arm,
        panel.n_pre + panel.n_post,
        panel.n_post,
        panel.n_post,
        panel.sum_pre + panel.sum_post,
        panel.sum_post,
    )
    if se <= _ROUNDING * panel.value_scale:
        se = 0.0
    p_value, low, high = _t_inference(estimate, se, df)
    return estimate, se, p_value, low, high


# A standard error this small next to the values is rounding, not spread.
_ROUNDING = 1e-12


def _scale(panel: UnitPanel) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.abs(np.concatenate((panel.sum_pre / panel.n_pre, panel.sum_post / panel.n_post)))
    # fmax passes over the NaN of a unit without rows, as nanmax does, at a fifth of
    # the cost; an all-NaN array gives NaN, which max() passes over too.
    return max(1.0, float(np.fmax.reduce(means)) if means.size else 1.0)


def unit_sums(panel: UnitPanel) -> dict[str, np.ndarray]:
    """Per unit: sums and counts before and after the start (for the permutations)."""
    return {
        "pre_sum": panel.sum_pre,
        "pre_n": panel.n_pre,
        "post_sum": panel.sum_post,
        "post_n": panel.n_post,
    }


def did_statistics(assign: np.ndarray, sums: dict[str, np.ndarray]) -> np.ndarray:
    """DiD of cell means for each assignment row (1 = pilot unit).

    In the saturated model `y ~ arm * post` the OLS interaction equals this
    difference of differences of the four cell means, so each permutation is a few
    matrix products instead of a regression.
    """
    control = 1.0 - assign

    def cell(weights: np.ndarray, name: str) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return (weights @ sums[f"{name}_sum"]) / (weights @ sums[f"{name}_n"])

    return (cell(assign, "post") - cell(assign, "pre")) - (
        cell(control, "post") - cell(control, "pre")
    )


def assignments(n_units: int, n_pilot: int, observed: np.ndarray) -> tuple[np.ndarray, bool]:
    """All ways to pick the pilot units, or a seeded random sample of them.

    Returns a 0/1 matrix (one row per assignment, the observed one first) and
    whether the list is exhaustive. The same input always gives the same rows.
    """
    total = math.comb(n_units, n_pilot)
    if total <= MAX_EXACT_ASSIGNMENTS:
        rows = np.zeros((total, n_units))
        for i, chosen in enumerate(itertools.combinations(range(n_units), n_pilot)):
            rows[i, list(chosen)] = 1.0
        return rows, True
    # Shuffle the observed labels (not draw pilot sets) so that swapping the arms
    # gives exactly the mirrored draws, and the same p-value.
    rng = np.random.default_rng(SEED)
    shuffles = np.argsort(rng.random((PERMUTATIONS, n_units)), axis=1)
    return np.vstack([observed, observed[shuffles]]), False


def permutation_p(stat: float, stats: np.ndarray) -> float:
    """Two-sided p: share of assignments at least as extreme as the observed one.

    The observed assignment is among `stats` (first row), so p >= 1 / len(stats).
    """
    # An assignment that leaves a cell empty has no statistic; it is not counted.
    stats = stats[np.isfinite(stats)]
    tolerance = 1e-10 * max(1.0, abs(stat))
    return float(np.mean(np.abs(stats) >= abs(stat) - tolerance))


def permutation_interval(
    panel: UnitPanel, rows: np.ndarray, alpha: float = 0.05
) -> tuple[float | None, float | None]:
    """95 % interval by inverting the permutation test (Rosenbaum 2002, ch. 2).

    For an effect d, subtract d from the pilot units' values after the start and
    re-test; the interval is the set of d not rejected. The statistic is linear in
    y, so each assignment's statistic is a(d) = a - d * b with b its statistic on the
    indicator of "observed pilot unit, after start". Bisection on each side of the
    estimate. None when the test can never reject (too few assignments).
    """
    a = did_statistics(rows, unit_sums(panel))
    indicator = {
        "pre_sum": np.zeros_like(panel.n_pre),
        "pre_n": panel.n_pre,
        "post_sum": panel.arm * panel.n_post,
        "post_n": panel.n_post,
    }
    b = did_statistics(rows, indicator)
    estimate = float(a[0])

    def p_at(d: float) -> float:
        return permutation_p(estimate - d, a - d * b)

    if 1.0 / len(rows) > alpha:
        return None, None
    spread = float(np.nanstd(a)) or 1.0
    bounds = []
    for sign in (-1.0, 1.0):
        inside, outside = estimate, estimate + sign * spread
        steps = 0
        while p_at(outside) > alpha and steps < 60:
            inside, outside = outside, outside + sign * spread * 2**steps
            steps += 1
        if p_at(outside) > alpha:
            return None, None
        for _ in range(60):
            middle = (inside + outside) / 2
            inside, outside = (middle, outside) if p_at(middle) > alpha else (inside, middle)
        bounds.append(inside)
    return bounds[0], bounds[1]


def _spread_in_time(panel: UnitPanel, arm: float) -> float:
    """Sum of squares of t about its mean over one arm's rows before the start."""
    sums = panel.arm_sums[arm]
    n, st, stt = sums["n_pre"], sums["t_pre"], sums["tt_pre"]
    return stt - st * st / n if n > 0 else 0.0


def pre_trend(panel: UnitPanel, inference: str) -> dict[str, Any]:
    """Arm x time slope before the start, and its p-value.

    `y ~ arm * t` on the pre-start rows; cluster-robust p-value when clusters are many,
    else a permutation p-value of the same coefficient over the same assignments.
    Untestable unless each arm has rows in at least two periods before the start (t
    takes whole numbers, so a positive spread means two periods).
    """
    if min(_spread_in_time(panel, 1.0), _spread_in_time(panel, 0.0)) <= 0:
        return {"pre_trend_slope_difference": None, "pre_trend_p_value": None}
    slope, se, df = interaction_fit(
        panel.arm, panel.n_pre, panel.t_pre, panel.tt_pre, panel.sum_pre, panel.ty_pre
    )
    if inference == "cluster":
        p_value, _, _ = _t_inference(slope, 0.0 if se <= _ROUNDING * panel.value_scale else se, df)
        return {"pre_trend_slope_difference": slope, "pre_trend_p_value": p_value}
    rows, _ = assignments(len(panel.arm), int(panel.arm.sum()), panel.arm)
    stats = slope_differences(panel, rows)
    return {"pre_trend_slope_difference": slope, "pre_trend_p_value": permutation_p(slope, stats)}


def slope_differences(panel: UnitPanel, rows: np.ndarray) -> np.ndarray:
    """Pilot-arm minus comparison-arm OLS slope of y on t, for each assignment row."""
    moments = (panel.n_pre, panel.t_pre, panel.sum_pre, panel.tt_pre, panel.ty_pre)

    def slope(weights: np.ndarray) -> np.ndarray:
        n, st, sy, stt, sty = (weights @ m for m in moments)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (sty - st * sy / n) / (stt - st * st / n)

    return slope(rows) - slope(1.0 - rows)


def _cell_totals(panel: UnitPanel) -> dict[str, tuple[float, float]]:
    """Rows and sum of values of each arm before and after the start, once for all uses."""
    totals = {}
    for arm, arm_name in ((0.0, "comparison"), (1.0, "pilot")):
        sums = panel.arm_sums[arm]
        for when in ("pre", "post"):
            totals[f"{arm_name}_{when}"] = (sums[f"n_{when}"], sums[f"sum_{when}"])
    return totals


def difference_in_differences(
    rows: Sequence[tuple[Any, Any, Period, float]],
    start: Period,
) -> MethodEstimate:
    """Difference in differences, `y ~ arm * post`, estimate = the interaction (design `did`).

    `rows` are `(unit, arm, period, value)`; arm is "pilot"/"comparison" (or 1/0);
    periods integers or period start dates; post = on or after `start`. With at least
    `MIN_CLUSTERS_PER_ARM` units in each arm: OLS with cluster-robust (CRV1) errors by
    unit, t with G - 1 df (`details["inference"] = "cluster"`). Otherwise exact or
    seeded permutation inference over the assignments of pilot status to units
    (Fisher 1935; Rosenbaum 2002), called "placebo" when there is one pilot unit (each
    comparison unit in turn plays the pilot; Abadie, Diamond & Hainmueller 2010); the
    interval inverts that test. `details` carries the pre-trend check.
    Sources: Card & Krueger (1994) AER 84:772-793 (the 2x2 design); Cameron & Miller
    (2015) J Hum Resour 50:317-372 (cluster-robust inference).
    """
    panel, warnings = unit_panel(rows, start)
    return did_from_panel(panel, warnings)


def did_from_panel(panel: UnitPanel, warnings: list[DataWarning] | None = None) -> MethodEstimate:
    """`difference_in_differences` on rows already summed per unit (`UnitPanel`)."""
    warnings = list(warnings or [])
    n_rows = panel.rows
    n_pilot = int(np.add.reduce(panel.arm))
    n_comparison = len(panel.arm) - n_pilot
    details: dict[str, Any] = {"pilot_units": n_pilot, "comparison_units": n_comparison}
    if panel.both_arms:
        # A unit with rows in both arms counts in both, as the rows say.
        details["comparison_units"] = n_comparison + panel.both_arms
        warnings.append(DataWarning(UNIT_IN_BOTH_ARMS, {"count": panel.both_arms}))
        return _insufficient(n_rows, n_pilot, n_comparison + panel.both_arms, details, warnings)
    totals = _cell_totals(panel)
    cells = sum(float(rows) > 0 for rows, _ in totals.values())
    if cells < 4:
        warnings.append(DataWarning(EMPTY_CELL, {"cells": cells}))
        return _insufficient(n_rows, n_pilot, n_comparison, details, warnings)

    inference = (
        "cluster"
        if min(n_pilot, n_comparison) >= MIN_CLUSTERS_PER_ARM
        else ("placebo" if n_pilot == 1 else "permutation")
    )
    details["inference"] = inference
    details["cell_means"] = {cell: float(total / rows) for cell, (rows, total) in totals.items()}
    if inference == "cluster":
        estimate, se, p_value, low, high = cluster_inference(panel)
        if se == 0:
            # Every unit moved exactly in step with its arm: no spread to measure.
            warnings.append(DataWarning(ZERO_VARIANCE, {}))
            return _insufficient(n_rows, n_pilot, n_comparison, details, warnings)
    else:
        warnings.append(
            DataWarning(
                FEW_CLUSTERS,
                {
                    "pilot_units": n_pilot,
                    "comparison_units": n_comparison,
                    "minimum": MIN_CLUSTERS_PER_ARM,
                },
            )
        )
        perm_rows, exact = assignments(len(panel.arm), n_pilot, panel.arm)
        stats = did_statistics(perm_rows, unit_sums(panel))
        observed_row = np.flatnonzero((perm_rows == panel.arm).all(axis=1))[0]
        estimate = float(stats[observed_row])
        p_value = permutation_p(estimate, stats)
        order = np.r_[observed_row, np.delete(np.arange(len(perm_rows)), observed_row)]
        low, high = permutation_interval(panel, perm_rows[order])
        se = None
        details.update(
            {"assignments": int(len(perm_rows)), "exact": exact, "seed": None if exact else SEED}
        )
        if low is None:
            # No effect, however large, would be rejected at 5 %: too few assignments
            # (fewer than 20, or mirrored halves as with 3 pilot and 3 comparison units).
            warnings.append(DataWarning(TOO_FEW_UNITS, {"assignments": int(len(perm_rows))}))
            return _insufficient(n_rows, n_pilot, n_comparison, details, warnings)

    details.update(pre_trend(panel, inference))
    if details["pre_trend_p_value"] is None:
        warnings.append(DataWarning(PRE_TREND_UNTESTABLE, {}))
    elif details["pre_trend_p_value"] < PRE_TREND_ALPHA:
        warnings.append(
            DataWarning(
                PRE_TREND,
                {
                    "p_value": details["pre_trend_p_value"],
                    "slope_difference": details["pre_trend_slope_difference"],
                },
            )
        )
    return MethodEstimate(
        method=f"did_{inference}",
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        se=se,
        n=n_rows,
        n_pilot=n_pilot,
        n_comparison=n_comparison,
        sufficient=True,
        details=details,
        warnings=tuple(warnings),
    )


def _insufficient(
    n: int, n_pilot: int, n_comparison: int, details: dict, warnings: list[DataWarning]
) -> MethodEstimate:
    return MethodEstimate(
        method="did",
        estimate=None,
        ci_low=None,
        ci_high=None,
        p_value=None,
        n=n,
        n_pilot=n_pilot,
        n_comparison=n_comparison,
        sufficient=False,
        details=details,
        warnings=tuple(warnings),
    )
