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
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats

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


def panel_frame(
    rows: Sequence[tuple[Any, Any, Period, float]], start: Period
) -> tuple[pd.DataFrame, list[DataWarning]]:
    """Rows (unit, arm, period, value) as a frame with arm, post, t and unit codes."""
    warnings: list[DataWarning] = []
    kept = [r for r in rows if r[3] is not None and math.isfinite(float(r[3]))]
    if len(kept) < len(rows):
        warnings.append(DataWarning(NON_FINITE_VALUES, {"count": len(rows) - len(kept)}))
    grid = period_grid([r[2] for r in kept], start)
    frame = pd.DataFrame(
        {
            "unit": [str(r[0]) for r in kept],
            "arm": [ARMS[r[1]] for r in kept],
            "t": np.asarray(grid.numbers, dtype=float),
            "y": [float(r[3]) for r in kept],
        }
    )
    frame["post"] = (frame["t"] >= grid.start).astype(float)
    frame["unit_code"] = pd.factorize(frame["unit"], sort=True)[0]
    return frame, warnings


def fit_cluster(frame: pd.DataFrame):
    """OLS `y ~ arm * post`, errors clustered by unit (CRV1, t with G - 1 df).

    The bare statsmodels call this module wraps.
    """
    return smf.ols("y ~ arm * post", data=frame).fit(
        cov_type="cluster", cov_kwds={"groups": frame["unit_code"].to_numpy()}, use_t=True
    )


def cluster_inference(
    fit, name: str = "arm:post"
) -> tuple[float, float, float | None, float, float]:
    """Estimate, SE, p-value and 95 % CI of one coefficient, t with G - 1 df.

    Read from the covariance directly: a variance that rounding leaves a hair below
    zero is zero, not a NaN.
    """
    names = list(fit.params.index)
    i = names.index(name)
    estimate = float(fit.params.iloc[i])
    se = math.sqrt(max(float(np.asarray(fit.cov_params())[i, i]), 0.0))
    df = getattr(fit, "df_resid_inference", None) or fit.df_resid
    if se == 0:
        return estimate, 0.0, None, estimate, estimate
    quantile = stats.t.ppf(0.975, df)
    p_value = float(2 * stats.t.sf(abs(estimate) / se, df))
    return estimate, se, p_value, estimate - quantile * se, estimate + quantile * se


def unit_sums(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per unit: sums and counts of y before and after the start (for fast re-fits)."""
    units = frame["unit_code"].to_numpy()
    n_units = int(units.max()) + 1
    post = frame["post"].to_numpy() > 0
    y = frame["y"].to_numpy()
    sums = {}
    for name, mask in (("pre", ~post), ("post", post)):
        sums[f"{name}_sum"] = np.bincount(units[mask], y[mask], minlength=n_units)
        sums[f"{name}_n"] = np.bincount(units[mask], minlength=n_units).astype(float)
    return sums


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
    frame: pd.DataFrame, rows: np.ndarray, alpha: float = 0.05
) -> tuple[float | None, float | None]:
    """95 % interval by inverting the permutation test (Rosenbaum 2002, ch. 2).

    For an effect d, subtract d from the pilot units' values after the start and
    re-test; the interval is the set of d not rejected. The statistic is linear in
    y, so each assignment's statistic is a(d) = a - d * b with b its statistic on the
    indicator of "observed pilot unit, after start". Bisection on each side of the
    estimate. None when the test can never reject (too few assignments).
    """
    sums = unit_sums(frame)
    a = did_statistics(rows, sums)
    shifted = frame.assign(y=((frame["arm"] == 1) & (frame["post"] > 0)).astype(float))
    b = did_statistics(rows, unit_sums(shifted))
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


def pre_trend(frame: pd.DataFrame, inference: str) -> dict[str, Any]:
    """Arm x time slope before the start, and its p-value.

    `y ~ arm * t` on the pre-start rows; cluster-robust p-value when clusters are many,
    else a permutation p-value of the same coefficient over the same assignments.
    """
    pre = frame[frame["post"] == 0]
    if pre["t"].nunique() < 2 or pre.groupby("arm")["t"].nunique().min() < 2:
        return {"pre_trend_slope_difference": None, "pre_trend_p_value": None}
    fit = smf.ols("y ~ arm * t", data=pre).fit(
        cov_type="cluster", cov_kwds={"groups": pre["unit_code"].to_numpy()}, use_t=True
    )
    slope, _, p_value, _, _ = cluster_inference(fit, "arm:t")
    if inference == "cluster":
        return {"pre_trend_slope_difference": slope, "pre_trend_p_value": p_value}
    unit_arm = frame.groupby("unit_code")["arm"].first().to_numpy().astype(float)
    rows, _ = assignments(len(unit_arm), int(unit_arm.sum()), unit_arm)
    stats = slope_differences(pre, rows, len(unit_arm))
    return {"pre_trend_slope_difference": slope, "pre_trend_p_value": permutation_p(slope, stats)}


def slope_differences(pre: pd.DataFrame, rows: np.ndarray, n_units: int) -> np.ndarray:
    """Pilot-arm minus comparison-arm OLS slope of y on t, for each assignment row."""
    units = pre["unit_code"].to_numpy()
    t = pre["t"].to_numpy()
    y = pre["y"].to_numpy()
    moments = np.stack(
        [
            np.bincount(units, weights=w, minlength=n_units)
            for w in (np.ones_like(t), t, y, t * t, t * y)
        ]
    )

    def slope(weights: np.ndarray) -> np.ndarray:
        n, st, sy, stt, sty = (weights @ m for m in moments)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (sty - st * sy / n) / (stt - st * st / n)

    return slope(rows) - slope(1.0 - rows)


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
    frame, warnings = panel_frame(rows, start)
    unit_arms = frame.groupby("unit")["arm"].nunique()
    n_pilot = int(frame.loc[frame["arm"] == 1, "unit"].nunique())
    n_comparison = int(frame.loc[frame["arm"] == 0, "unit"].nunique())
    details: dict[str, Any] = {"pilot_units": n_pilot, "comparison_units": n_comparison}
    if (unit_arms > 1).any():
        warnings.append(DataWarning(UNIT_IN_BOTH_ARMS, {"count": int((unit_arms > 1).sum())}))
        return _insufficient(len(frame), n_pilot, n_comparison, details, warnings)
    cells = frame.groupby(["arm", "post"]).size()
    if len(cells) < 4:
        warnings.append(DataWarning(EMPTY_CELL, {"cells": len(cells)}))
        return _insufficient(len(frame), n_pilot, n_comparison, details, warnings)

    inference = (
        "cluster"
        if min(n_pilot, n_comparison) >= MIN_CLUSTERS_PER_ARM
        else ("placebo" if n_pilot == 1 else "permutation")
    )
    details["inference"] = inference
    details["cell_means"] = {
        f"{'pilot' if arm else 'comparison'}_{'post' if post else 'pre'}": float(v)
        for (arm, post), v in frame.groupby(["arm", "post"])["y"].mean().items()
    }
    if inference == "cluster":
        fit = fit_cluster(frame)
        estimate, se, p_value, low, high = cluster_inference(fit)
        if se == 0:
            # Every unit moved exactly in step with its arm: no spread to measure.
            warnings.append(DataWarning(ZERO_VARIANCE, {}))
            return _insufficient(len(frame), n_pilot, n_comparison, details, warnings)
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
        unit_arm = frame.groupby("unit_code")["arm"].first().to_numpy().astype(float)
        perm_rows, exact = assignments(len(unit_arm), n_pilot, unit_arm)
        stats = did_statistics(perm_rows, unit_sums(frame))
        observed_row = np.flatnonzero((perm_rows == unit_arm).all(axis=1))[0]
        estimate = float(stats[observed_row])
        p_value = permutation_p(estimate, stats)
        order = np.r_[observed_row, np.delete(np.arange(len(perm_rows)), observed_row)]
        low, high = permutation_interval(frame, perm_rows[order])
        se = None
        details.update(
            {"assignments": int(len(perm_rows)), "exact": exact, "seed": None if exact else SEED}
        )
        if low is None:
            # No effect, however large, would be rejected at 5 %: too few assignments
            # (fewer than 20, or mirrored halves as with 3 pilot and 3 comparison units).
            warnings.append(DataWarning(TOO_FEW_UNITS, {"assignments": int(len(perm_rows))}))
            return _insufficient(len(frame), n_pilot, n_comparison, details, warnings)

    details.update(pre_trend(frame, inference))
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
        n=len(frame),
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
