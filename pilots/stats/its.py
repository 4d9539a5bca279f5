"""Interrupted time series for the `pre_post` design.

A pilot with one series measured before and after its start asks: did the level or
the slope of the series change at the start? This module answers with segmented
regression (Wagner et al. 2002; Lopez Bernal, Cummins & Gasparrini 2017): ordinary
least squares `y ~ t + post + t_post` for values, or a Poisson GLM with a
log(exposure) offset for counts, both with Newey-West (HAC) standard errors so that
autocorrelated months do not pass for independent evidence. The fits are written
out in numpy (least squares, Poisson IRLS, the HAC sandwich, Durbin-Watson and
Breusch-Godfrey), reproducing statsmodels' formula fits to rounding (with less of it
in the small entries of the covariance): the scheduled evaluations call this
thousands of times, and the formula fits cost ~10 ms a call, most of it in patsy.
It also owns the small period arithmetic (dates or integers -> period numbers,
missing periods) that the `spc` and `did` modules reuse. It returns a
`MethodEstimate`; the judgement layer turns that into a verdict.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from pilots.stats.result import DataWarning, MethodEstimate

Period = int | dt.date

# Segmented regression needs a few points on each side of the start to separate a
# level from a slope; with fewer than 3 on a side, one point alone sets a slope.
MIN_POINTS_PER_SIDE = 3
# Four coefficients plus an autocorrelation-robust variance: below 8 points the HAC
# estimate rests on a handful of residuals (Wagner et al. 2002 recommend 12 a side).
MIN_POINTS_TOTAL = 8
# Residual degrees of freedom we insist on when seasonal terms are added.
MIN_RESIDUAL_DF = 4
# Breusch-Godfrey p-value under which we say autocorrelation is evident.
AUTOCORRELATION_ALPHA = 0.05

MISSING_PERIODS = "missing_periods"
DUPLICATE_PERIODS = "duplicate_periods"
TOO_FEW_POINTS = "too_few_points"
AUTOCORRELATION = "autocorrelation"
INVALID_COUNTS = "invalid_counts"
NON_FINITE_VALUES = "non_finite_values"
# The name two_group uses for an arm without events (one label on the pages).
NO_EVENTS_IN_ARM = "no_events_in_arm"
ZERO_VARIANCE = "zero_variance"
TREND_AGAINST_LEVEL = "trend_against_level"

COEFFICIENTS = ("pre_slope", "level_change", "slope_change", "post_slope")

# statsmodels clips means and ratios at machine epsilon in the Poisson log link.
_EPS = np.finfo(float).eps


@dataclass(frozen=True)
class PeriodGrid:
    """Observed periods as whole period numbers on a regular grid.

    `numbers[i]` is the period number of the i-th input period; `start` is the number
    of the first grid period on or after the pilot start; `missing` lists the grid
    numbers between the first and last observed period that have no observation.
    """

    numbers: tuple[int, ...]
    start: int
    missing: tuple[int, ...]


def _month_number(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def period_grid(periods: Sequence[Period], start: Period) -> PeriodGrid:
    """Number the periods on a regular grid and find the first period on or after start.

    Integers are taken as period numbers. Dates are period start dates (DESIGN.md,
    observation contract): when they all fall on the same day of the month, the grid
    counts months (step = greatest common divisor of the month gaps, so quarterly data
    counts quarters); otherwise it counts days with step = the gcd of the day gaps
    (7 for weekly data). A gap larger than the step is a missing period.
    """
    # The metrics of a pilot, and pilots reporting the same months, share their
    # periods and start: the grid of plain dates is remembered (`_dates_grid`). Only
    # plain dates, which are equal only when they are the same day; other periods
    # (integers, where True == 1, or datetimes) are numbered afresh each time.
    if type(start) is dt.date and periods and all(type(p) is dt.date for p in periods):
        return _dates_grid(tuple(periods), start)
    return _period_grid(periods, start)


def _period_grid(periods: Sequence[Period], start: Period) -> PeriodGrid:
    """`period_grid`, computed."""
    if not periods:
        return PeriodGrid((), 0, ())
    if all(isinstance(p, int) and not isinstance(p, bool) for p in periods):
        if not isinstance(start, int):
            raise TypeError("integer periods need an integer start")
        numbers = tuple(int(p) for p in periods)
        return PeriodGrid(numbers, start, _missing(numbers, 1))
    if not all(isinstance(p, dt.date) for p in periods) or not isinstance(start, dt.date):
        raise TypeError("periods and start must all be integers or all be dates")
    days = {p.day for p in periods}
    raw = [p.year * 12 + p.month - 1 for p in periods]  # _month_number, inlined
    if len(days) == 1 and len(set(raw)) == len(set(periods)):
        anchor = days.pop()
        step = _gcd_step(raw)
        first = min(raw)
        numbers = tuple((m - first) // step for m in raw)
        # The first grid month at or after the start, compared as (month, day) so a
        # pilot starting mid-month begins with the next period.
        k = math.ceil((_month_number(start) - first) / step)
        if (first + k * step, anchor) < (_month_number(start), start.day):
            k += 1
        return PeriodGrid(numbers, k, _missing(numbers, 1))
    raw = [p.toordinal() for p in periods]
    step = _gcd_step(raw)
    first = min(raw)
    numbers = tuple((d - first) // step for d in raw)
    k = math.ceil((start.toordinal() - first) / step)
    return PeriodGrid(numbers, k, _missing(numbers, 1))


# The grids of the last 256 sets of periods (a PeriodGrid is frozen, so it is shared).
_dates_grid = functools.lru_cache(maxsize=256)(_period_grid)


def _gcd_step(raw: Sequence[int]) -> int:
    distinct = sorted(set(raw))
    gaps = [later - earlier for earlier, later in pairwise(distinct)]
    return math.gcd(*gaps) if gaps else 1


def pairwise_sum(values: Sequence[float]) -> float:
    """The sum `np.sum` gives for a float array, bit for bit, in plain Python.

    numpy adds a float64 array by pairwise summation: under 8 values one by one;
    up to 128 in eight interleaved partial sums combined as a tree, then the rest
    one by one; above that, two halves (the first a multiple of 8 long) summed
    alike. Reproduced here so the short series of the scheduled evaluations (10-25
    points) skip numpy's per-call overhead yet give the same last bit.
    """
    n = len(values)
    if n > 128:
        half = n // 2
        half -= half % 8
        return pairwise_sum(values[:half]) + pairwise_sum(values[half:])
    # numpy starts the reduction from its identity 0.0 (so -0.0 sums to 0.0).
    if n < 8:
        total = 0.0
        for value in values:
            total += value
        return total
    partial = list(values[:8])
    blocks_end = n - n % 8
    for block in range(8, blocks_end, 8):
        for j in range(8):
            partial[j] += values[block + j]
    total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + (
        (partial[4] + partial[5]) + (partial[6] + partial[7])
    )
    for value in values[blocks_end:]:
        total += value
    return 0.0 + total


def _missing(numbers: Sequence[int], step: int) -> tuple[int, ...]:
    present = set(numbers)
    if not present:
        return ()
    return tuple(k for k in range(min(present), max(present) + 1, step) if k not in present)


def newey_west_lags(n: int) -> int:
    """Lag truncation for the Bartlett (Newey-West) kernel: floor(4 (n/100)^(2/9)), at least 1.

    The rule of Newey & West (1994) as in Stock & Watson's textbook; it gives 2 lags
    for 5-27 points, 3 for 28-99 (so 3 for a 60-month series), 4 from 100.
    """
    return max(1, math.floor(4 * (n / 100) ** (2 / 9)))


def design_matrix(
    numbers: Sequence[int] | np.ndarray,
    start: int,
    *,
    slope_change: bool = True,
    harmonics: int = 0,
    season_length: int = 12,
) -> tuple[tuple[str, ...], np.ndarray]:
    """Column names and design matrix of the segmented regression.

    Columns Intercept, t, post, t_post (when `slope_change`), then sin1, cos1, sin2,
    ..., in the order the formula `formula(harmonics, slope_change)` gives them.
    `t_post = (t - t0) * post` is zero at the first period on or after the start, so
    the `post` coefficient is the jump there (DESIGN.md). Harmonic pairs
    sin/cos(2 pi k t / season_length), k = 1..harmonics, adjust for seasonality as in
    Lopez Bernal et al. (2017), `tsModel::harmonic`.
    """
    t = np.asarray(numbers, dtype=float)
    names = ["Intercept", "t", "post"]
    if slope_change:
        names.append("t_post")
    for k in range(1, harmonics + 1):
        names += [f"sin{k}", f"cos{k}"]
    # Column-major, as patsy hands the matrix to statsmodels: LAPACK then rounds alike.
    x = np.empty((len(t), len(names)), order="F")
    x[:, 0] = 1.0
    x[:, 1] = t
    x[:, 2] = t >= start
    if slope_change:
        x[:, 3] = (t - start) * x[:, 2]
    column = 3 + int(slope_change)
    for k in range(1, harmonics + 1):
        angle = 2 * np.pi * k * t / season_length
        x[:, column] = np.sin(angle)
        x[:, column + 1] = np.cos(angle)
        column += 2
    return tuple(names), x


def design_frame(
    numbers: Sequence[int],
    start: int,
    *,
    harmonics: int = 0,
    season_length: int = 12,
) -> pd.DataFrame:
    """Columns t, post, t_post (and sin/cos pairs) of `design_matrix`, as a data frame.

    For a formula fit (`fit_segmented`, tests, benchmarks); the engine uses the matrix.
    """
    names, x = design_matrix(numbers, start, harmonics=harmonics, season_length=season_length)
    return pd.DataFrame(x[:, 1:], columns=list(names[1:]))


def formula(harmonics: int, slope_change: bool) -> str:
    terms = ["t", "post"] + (["t_post"] if slope_change else [])
    terms += [f"{f}{k}" for k in range(1, harmonics + 1) for f in ("sin", "cos")]
    return "y ~ " + " + ".join(terms)


def _insufficient(
    method: str, n: int, n_pre: int, n_post: int, warnings: list[DataWarning], details: dict
) -> MethodEstimate:
    return MethodEstimate(
        method=method,
        estimate=None,
        ci_low=None,
        ci_high=None,
        p_value=None,
        n=n,
        n_pilot=n_post,
        n_comparison=n_pre,
        sufficient=False,
        details=details,
        warnings=tuple(warnings),
    )


def interrupted_time_series(
    observations: Sequence[tuple[Any, ...]],
    start: Period,
    *,
    slope_change: bool = True,
    harmonics: int = 0,
    season_length: int = 12,
) -> MethodEstimate:
    """Segmented regression with Newey-West errors (design `pre_post`).

    `observations` are `(period, value)` or, for counts, `(period, events, exposure)`;
    periods are integers or period start dates, `start` the pilot's first day (or
    period number). Values: OLS `y ~ t + post + t_post` with HAC errors (Bartlett
    kernel, `maxlags = newey_west_lags(n)`, small-sample correction, t reference
    distribution), as statsmodels' `fit(cov_type="HAC", use_t=True)`; estimate =
    level change. Counts: Poisson GLM with offset log(exposure) and the same HAC
    errors; estimate = rate ratio of the level change, `se` on the log scale.
    `details` carries pre_slope, level_change, slope_change and post_slope
    (pre_slope + slope_change, its SE from the contrast), each with `_se`, `_ci_low`,
    `_ci_high`, `_p_value`, and the Durbin-Watson statistic and Breusch-Godfrey
    p-value of the residuals.

    Sources: Wagner AK et al. (2002) J Clin Pharm Ther 27:299-309; Lopez Bernal J,
    Cummins S, Gasparrini A (2017) Int J Epidemiol 46:348-355; Newey & West (1987,
    1994). `slope_change=False` fits the step-change-only model of Lopez Bernal et
    al.; `harmonics` adds Fourier seasonal terms as their `harmonic(month, 2, 12)`.
    """
    counts = any(len(row) > 2 for row in observations)
    method = "its_poisson_hac" if counts else "its_ols_hac"
    warnings: list[DataWarning] = []
    rows = _finite_rows(observations, counts)
    if len(rows) < len(observations):
        warnings.append(DataWarning(NON_FINITE_VALUES, {"count": len(observations) - len(rows)}))
    if counts and any(row[1] < 0 or row[2] <= 0 for row in rows):
        warnings.append(DataWarning(INVALID_COUNTS, {}))
        return _insufficient(method, len(rows), 0, 0, warnings, {})

    grid = period_grid([row[0] for row in rows], start)
    numbers = grid.numbers
    n = len(rows)
    n_post = sum(1 for k in numbers if k >= grid.start)
    n_pre = n - n_post
    details: dict[str, Any] = {"model": method, "n_pre": n_pre, "n_post": n_post}
    if len(set(numbers)) < n:
        warnings.append(DataWarning(DUPLICATE_PERIODS, {"count": n - len(set(numbers))}))
        return _insufficient(method, n, n_pre, n_post, warnings, details)
    if grid.missing:
        warnings.append(
            DataWarning(MISSING_PERIODS, {"count": len(grid.missing), "periods": grid.missing})
        )
    n_params = 2 + int(slope_change) + 2 * harmonics + 1
    if (
        n_pre < MIN_POINTS_PER_SIDE
        or n_post < MIN_POINTS_PER_SIDE
        or n < max(MIN_POINTS_TOTAL, n_params + MIN_RESIDUAL_DF)
    ):
        warnings.append(
            DataWarning(
                TOO_FEW_POINTS,
                {
                    "n_pre": n_pre,
                    "n_post": n_post,
                    "minimum_per_side": MIN_POINTS_PER_SIDE,
                    "minimum_total": max(MIN_POINTS_TOTAL, n_params + MIN_RESIDUAL_DF),
                },
            )
        )
        return _insufficient(method, n, n_pre, n_post, warnings, details)
    if counts:
        for side, after in (("before", False), ("after", True)):
            side_rows = zip(rows, numbers, strict=True)
            if not any(float(row[1]) > 0 for row, k in side_rows if (k >= grid.start) == after):
                # No events on one side: the log rate there is minus infinity, and no
                # level change (a rate ratio of 0 or infinity) can be estimated.
                warnings.append(DataWarning(NO_EVENTS_IN_ARM, {"arm": side}))
                return _insufficient(method, n, n_pre, n_post, warnings, details)

    # The periods are distinct here, so sorting by period is one well-defined order.
    order = sorted(range(n), key=numbers.__getitem__)
    design = grid_design(
        tuple(numbers[i] for i in order), grid.start, slope_change, harmonics, season_length
    )
    y = np.array([float(rows[i][1]) for i in order])
    lags = newey_west_lags(n)
    if counts:
        exposure = np.array([float(rows[i][2]) for i in order])
        params, mu = _poisson_irls(design.x, y, np.log(exposure), 100, 1e-8)
        fit = _poisson_fit(design.names, design.x, y, params, mu, lags, design.pinv, design.rank(n))
    else:
        rank = design.rank(len(design.names))
        fit = _ols_hac(design.names, design.x, design.pinv, rank, y, lags)
    if _std(fit.resid) <= 1e-9 * float(np.maximum.reduce(np.abs(y))):  # np.max, unwrapped
        # A series the lines fit exactly leaves no noise to measure uncertainty by.
        # Relative to the size of the values, so the judgement does not depend on the
        # unit they are written in (days or weeks, kroner or thousands).
        warnings.append(DataWarning(ZERO_VARIANCE, {}))
        return _insufficient(method, n, n_pre, n_post, warnings, details)

    details.update(coefficient_table(fit, slope_change, counts))
    if details["level_change_p_value"] is None:
        warnings.append(DataWarning(ZERO_VARIANCE, {}))
        return _insufficient(method, n, n_pre, n_post, warnings, details)
    details.update(autocorrelation(fit, lags))
    details.update({"maxlags": lags, "harmonics": harmonics, "slope_change_fitted": slope_change})
    if counts:
        details["dispersion"] = float(fit.pearson_chi2 / fit.df_resid)
    if _trend_against_level(details, counts):
        turn = {"slope_change": details["slope_change"], "p_value": details["slope_change_p_value"]}
        warnings.append(DataWarning(TREND_AGAINST_LEVEL, turn))
    if details["breusch_godfrey_p"] < AUTOCORRELATION_ALPHA:
        warnings.append(
            DataWarning(
                AUTOCORRELATION,
                {
                    "durbin_watson": details["durbin_watson"],
                    "breusch_godfrey_p": details["breusch_godfrey_p"],
                    "lags": lags,
                },
            )
        )
    level = "level_change"
    return MethodEstimate(
        method=method,
        estimate=details[level],
        ci_low=details[f"{level}_ci_low"],
        ci_high=details[f"{level}_ci_high"],
        p_value=details[f"{level}_p_value"],
        se=details[f"{level}_se"],
        n=n,
        n_pilot=n_post,
        n_comparison=n_pre,
        sufficient=True,
        details=details,
        warnings=tuple(warnings),
    )


def _trend_against_level(details: dict[str, Any], counts: bool) -> bool:
    """Whether the trend after the start clearly runs against the jump at the start.

    The verdict reads the level change (the jump at the first period on or after the
    start); a level that fell while the slope then clearly rose (or the other way
    round) can be undone within a few periods, which a reader should hear of. "Clearly":
    the slope change's own p-value below 0.05. For counts both are ratios (1 = none).
    """
    slope, p_value = details.get("slope_change"), details.get("slope_change_p_value")
    level = details.get("level_change")
    if slope is None or p_value is None or level is None or p_value >= AUTOCORRELATION_ALPHA:
        return False
    neutral = 1.0 if counts else 0.0
    return (level - neutral) * (slope - neutral) < 0


def _finite_rows(observations: Sequence[tuple[Any, ...]], counts: bool) -> list:
    """The observations whose value (events and exposure, for counts) is a finite number.

    Usually all of them: checked in one pass, row by row only when one is not.
    """
    try:
        values = [row[1] for row in observations]
        if counts:
            values += [row[2] for row in observations]
        if all(map(math.isfinite, values)):
            return list(observations)
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    return [row for row in observations if _finite_row(row, counts)]


def _finite_row(row: Sequence[Any], counts: bool) -> bool:
    if counts and len(row) < 3:
        return False
    for value in row[1:3] if counts else row[1:2]:
        if value is None or not math.isfinite(float(value)):
            return False
    return True


def _std(values: np.ndarray) -> float:
    """`np.std(values)` of a non-empty array, bit for bit: the steps of numpy's `_var`.

    Written out because np.std's own bookkeeping costs more than the arithmetic on
    these short series.
    """
    deviations = values - np.add.reduce(values) / values.size
    return math.sqrt(np.add.reduce(deviations * deviations) / values.size)


@dataclass(frozen=True)
class SegmentedFit:
    """A fitted segmented model: what the coefficient table and diagnostics read.

    `cov` is the HAC covariance of `params`; `resid` the OLS residuals, or for counts
    the Pearson residuals; `exog_pinv` the pseudo-inverse of `exog` (for the
    Breusch-Godfrey auxiliary regression); `pearson_chi2` only for counts.
    """

    names: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    df_resid: float
    resid: np.ndarray
    exog: np.ndarray
    exog_pinv: np.ndarray
    pearson_chi2: float | None = None


def _pinv_and_rank(x: np.ndarray, rank_size: int) -> tuple[np.ndarray, int]:
    """Moore-Penrose inverse and rank of x, as statsmodels' `pinv_extended` and rank.

    Singular values under 1e-15 x the largest count as zero for the inverse; the rank
    uses numpy's `matrix_rank` tolerance, largest x rank_size x eps (statsmodels takes
    the rank of diag(s), rank_size = columns, for OLS and of x, rank_size = rows, for
    GLM).
    """
    pinv, singular_values = _pinv_and_singular_values(x)
    return pinv, _rank(singular_values, rank_size)


def _pinv_and_singular_values(x: np.ndarray) -> tuple[np.ndarray, tuple[float, ...]]:
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    # The handful of singular values in plain Python: numpy's overhead costs more.
    values = tuple(s.tolist())
    largest = values[0]
    inverse = np.array([1.0 / v if v > 1e-15 * largest else 0.0 for v in values])
    return vt.T @ (inverse[:, None] * u.T), values


def _rank(singular_values: Sequence[float], rank_size: int) -> int:
    """numpy's `matrix_rank` count: singular values above largest x rank_size x eps."""
    largest = singular_values[0]
    return sum(1 for v in singular_values if v > largest * rank_size * _EPS)


@dataclass(frozen=True)
class GridDesign:
    """The segmented design of one grid and start, with its pseudo-inverse (read-only)."""

    names: tuple[str, ...]
    x: np.ndarray
    pinv: np.ndarray
    singular_values: tuple[float, ...]

    def rank(self, rank_size: int) -> int:
        return _rank(self.singular_values, rank_size)


@functools.lru_cache(maxsize=64, typed=True)
def grid_design(
    numbers: tuple[int, ...],
    start: int,
    slope_change: bool,
    harmonics: int,
    season_length: int,
) -> GridDesign:
    """`design_matrix` and its pseudo-inverse for sorted period numbers, once per grid.

    The metrics of a pilot share their periods and start, and a scheduled run
    evaluates them one after another: the design and its SVD are the same each time,
    so they are kept (for the last 64 grids; the arrays are read-only, as they are
    shared). Arguments are compared with their types, so a call that would fail
    (harmonics=2.0) still fails.
    """
    names, x = design_matrix(
        numbers, start, slope_change=slope_change, harmonics=harmonics, season_length=season_length
    )
    pinv, singular_values = _pinv_and_singular_values(x)
    x.flags.writeable = False
    pinv.flags.writeable = False
    return GridDesign(names, x, pinv, singular_values)


def hac_covariance(influence: np.ndarray, lags: int) -> np.ndarray:
    """Newey-West covariance from the influence rows g_i = bread s_i, times n/(n-k).

    sum_l w_l sum_i (g_i g_{i-l}' + g_{i-l} g_i') with Bartlett weights
    w_l = 1 - l/(lags+1) (w_0 = 1, counted once; Newey & West 1987): the sandwich
    bread S bread' of statsmodels' `cov_hac_simple` (`use_correction=True`) summed
    the other way round, so that a small variance is not the difference of large
    products. For OLS g_i = e_i pinv(X)[:, i]; for a GLM g_i = H^-1 x_i (y_i - mu_i).
    """
    n, k = influence.shape
    cov = influence.T @ influence
    for lag in range(1, lags + 1):
        gamma = influence[lag:].T @ influence[:-lag]
        cov += (1 - lag / (lags + 1.0)) * (gamma + gamma.T)
    return cov * (n / float(n - k))


def fit_ols_hac(names: tuple[str, ...], x: np.ndarray, y: np.ndarray, lags: int) -> SegmentedFit:
    """OLS with HAC errors, as `smf.ols(...).fit(cov_type="HAC", use_t=True)`.

    Least squares by the pseudo-inverse (statsmodels' default "pinv"); the bread of
    the sandwich is pinv(X) pinv(X)' = (X'X)^-1; residual df = n - rank(X).
    """
    pinv, rank = _pinv_and_rank(x, x.shape[1])
    return _ols_hac(names, x, pinv, rank, y, lags)


def _ols_hac(
    names: tuple[str, ...], x: np.ndarray, pinv: np.ndarray, rank: int, y: np.ndarray, lags: int
) -> SegmentedFit:
    """`fit_ols_hac` given the pseudo-inverse and rank of x."""
    params = pinv @ y
    resid = y - x @ params
    # (X'X)^-1 x_i = pinv(X)[:, i], so the influence rows need no inverse of X'X.
    cov = hac_covariance(pinv.T * resid[:, None], lags)
    return SegmentedFit(names, params, cov, float(len(y) - rank), resid, x, pinv)


def fit_poisson_hac(
    names: tuple[str, ...],
    x: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    lags: int,
    *,
    max_iterations: int = 100,
    tolerance: float = 1e-8,
) -> SegmentedFit:
    """Poisson GLM, log link, with offset and HAC errors, as statsmodels' GLM.

    Iteratively reweighted least squares from statsmodels' start (mu = (y + mean y)/2,
    offset ignored in the first working response) until the deviance changes by at
    most `tolerance`, the stopping rule of `GLM.fit()`. After the first step each step
    is written as the Newton step b + (X'WX)^-1 X'(y - mu), which for the canonical
    link is the IRLS step. HAC as `cov_hac_simple` does for a GLM: score observations
    x_i (y_i - mu_i), bread the inverse Hessian H^-1 = (X' diag(mu) X)^-1 (its sign
    cancels in the sandwich), so influence rows H^-1 x_i (y_i - mu_i); residual df =
    n - rank(X); Pearson residuals (y - mu)/sqrt(mu).
    """
    params, mu = _poisson_irls(x, y, offset, max_iterations, tolerance)
    pinv, rank = _pinv_and_rank(x, x.shape[0])
    return _poisson_fit(names, x, y, params, mu, lags, pinv, rank)


def _poisson_irls(
    x: np.ndarray, y: np.ndarray, offset: np.ndarray, max_iterations: int, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """The IRLS of `fit_poisson_hac`: its coefficients and fitted means."""
    if not y.any():
        # statsmodels stops here too (its starting deviance is nan): with no events at
        # all the log-linear model has no finite estimate.
        raise ValueError("no events in the series: the Poisson model has no estimate")
    mu = (y + y.mean()) / 2.0
    clipped = np.maximum(mu, _EPS)
    working = np.log(clipped) + (y - mu) / clipped - offset
    weighted = x * mu[:, None]
    params = np.linalg.solve(weighted.T @ x, weighted.T @ working)
    deviance = _poisson_deviance(y, mu, y - mu)
    for _ in range(max_iterations):
        mu = np.exp(x @ params + offset)
        raw = y - mu
        previous, deviance = deviance, _poisson_deviance(y, mu, raw)
        if abs(deviance - previous) <= tolerance:
            break
        weighted = x * mu[:, None]
        params = params + np.linalg.solve(weighted.T @ x, x.T @ raw)
    return params, mu


def _poisson_fit(
    names: tuple[str, ...],
    x: np.ndarray,
    y: np.ndarray,
    params: np.ndarray,
    mu: np.ndarray,
    lags: int,
    pinv: np.ndarray,
    rank: int,
) -> SegmentedFit:
    """The HAC covariance and residuals of `fit_poisson_hac` at its estimate."""
    raw = y - mu
    influence = np.linalg.solve((x * mu[:, None]).T @ x, x.T).T * raw[:, None]
    cov = hac_covariance(influence, lags)
    pearson = raw / np.sqrt(mu)
    return SegmentedFit(
        names,
        params,
        cov,
        float(len(y) - rank),
        pearson,
        x,
        pinv,
        float((raw**2 / mu).sum()),
    )


def _poisson_deviance(y: np.ndarray, mu: np.ndarray, raw: np.ndarray) -> float:
    """2 sum(y log(y/mu) - (y - mu)), y/mu clipped at eps as statsmodels does; raw = y - mu."""
    return float(2 * (y * np.log(np.maximum(y / mu, _EPS)) - raw).sum())


def fit_segmented(
    frame: pd.DataFrame, lags: int, *, slope_change: bool, harmonics: int, counts: bool
):
    """Reference fit: the statsmodels formula call the fast fits above reproduce.

    Not used by the engine (patsy and pandas cost ~10 ms a call); kept for tests and
    benchmarks. `frame` has t, post, t_post (and harmonics), y and, for counts,
    exposure.
    """
    # Imported here: statsmodels and patsy take about a second to import, and the
    # engine never needs them.
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    cov_kwds = {"maxlags": lags, "use_correction": True}
    spec = formula(harmonics, slope_change)
    if counts:
        offset = np.log(frame["exposure"].to_numpy())
        model = smf.glm(spec, data=frame, family=sm.families.Poisson(), offset=offset)
        return model.fit(cov_type="HAC", cov_kwds=cov_kwds, use_t=True)
    return smf.ols(spec, data=frame).fit(cov_type="HAC", cov_kwds=cov_kwds, use_t=True)


def coefficient_table(fit: SegmentedFit, slope_change: bool, counts: bool) -> dict[str, Any]:
    """pre_slope, level_change, slope_change, post_slope with SE, 95 % CI and p-value.

    post_slope is the contrast pre_slope + slope_change; its SE comes from the HAC
    covariance of both, sqrt(c' V c); intervals use t with the residual df. For counts
    every figure is exponentiated (rate ratios) and the SE stays on the log scale.
    """
    contrasts, vectors = _contrasts(fit.names, slope_change)
    out: dict[str, Any] = {}
    quantile = t_quantile(fit.df_resid)
    transform = math.exp if counts else float
    # All contrasts at once. Their weights are 0 or 1, so each figure is a sum of at
    # most two terms and comes out the same, to the bit, as one contrast at a time.
    estimates = (vectors @ fit.params).tolist()
    variances = np.add.reduce((vectors @ fit.cov) * vectors, axis=1).tolist()
    # Rounding can leave a tiny negative variance for a contrast of a near-exact fit.
    ses = [math.sqrt(max(variance, 0.0)) for variance in variances]
    # The t tail of every contrast in one call of stdtr (what scipy.stats.t.sf
    # evaluates): a call per contrast cost more than the function itself.
    t_values = [-abs(e) / se if se > 0 else 0.0 for e, se in zip(estimates, ses, strict=True)]
    tails = special.stdtr(fit.df_resid, t_values).tolist()
    for name, estimate, se, tail in zip(contrasts, estimates, ses, tails, strict=True):
        p_value = 2 * tail if se > 0 else None
        out[name] = transform(estimate)
        out[f"{name}_se"] = se
        out[f"{name}_ci_low"] = transform(estimate - quantile * se)
        out[f"{name}_ci_high"] = transform(estimate + quantile * se)
        out[f"{name}_p_value"] = p_value
    if not slope_change:
        # The step-only model assumes the slope carries on; say so rather than omit it.
        for suffix in ("", "_se", "_ci_low", "_ci_high", "_p_value"):
            out[f"slope_change{suffix}"] = None
            out[f"post_slope{suffix}"] = out[f"pre_slope{suffix}"]
    out["scale"] = "rate_ratio" if counts else "difference"
    return out


@functools.lru_cache(maxsize=64)
def t_quantile(df: float) -> float:
    """The t distribution's 97.5 % point (stdtrit, what scipy.stats.t.ppf evaluates).

    Remembered: the residual df repeats from metric to metric and pilot to pilot.
    """
    return float(special.stdtrit(df, 0.975))


@functools.lru_cache(maxsize=16)
def _contrasts(names: tuple[str, ...], slope_change: bool) -> tuple[tuple[str, ...], np.ndarray]:
    """The reported contrasts and their weights on the design's columns (read-only)."""
    contrasts = {
        "pre_slope": {"t": 1.0},
        "level_change": {"post": 1.0},
    }
    if slope_change:
        contrasts["slope_change"] = {"t_post": 1.0}
        contrasts["post_slope"] = {"t": 1.0, "t_post": 1.0}
    vectors = np.array(
        [[weights.get(column, 0.0) for column in names] for weights in contrasts.values()]
    )
    vectors.flags.writeable = False
    return tuple(contrasts), vectors


def autocorrelation(fit: SegmentedFit, lags: int) -> dict[str, float]:
    """Durbin-Watson statistic and Breusch-Godfrey LM p-value of the residuals.

    As statsmodels' `durbin_watson(resid)` and `acorr_breusch_godfrey` applied to the
    OLS of the residuals on the design (Breusch 1978; Godfrey 1978): that auxiliary
    fit's residuals u are regressed on the design and u lagged 1..lags (zeros before
    the first period); LM = n x centred R^2, chi-squared with `lags` df. For counts
    the Pearson residuals stand in for the OLS residuals (an approximation: the
    auxiliary regression is unweighted).
    """
    resid = fit.resid
    n = len(resid)
    auxiliary = resid - fit.exog @ (fit.exog_pinv @ resid)
    # [design | lagged auxiliary residuals], row-major as np.hstack made it.
    k = fit.exog.shape[1]
    regressors = np.zeros((n, k + lags))
    regressors[:, :k] = fit.exog
    for lag in range(1, lags + 1):
        regressors[lag:, k + lag - 1] = auxiliary[:-lag]
    coefficients = np.linalg.lstsq(regressors, auxiliary, rcond=None)[0]
    # np.add.reduce is what .sum() calls, without its wrapper.
    ssr = float(np.add.reduce((auxiliary - regressors @ coefficients) ** 2))
    centred = auxiliary - np.add.reduce(auxiliary) / n  # auxiliary.mean(), unwrapped
    lm = n * (1 - ssr / float(centred @ centred))
    steps = resid[1:] - resid[:-1]
    return {
        "durbin_watson": float(np.add.reduce(steps**2) / np.add.reduce(resid**2)),
        "breusch_godfrey_p": float(special.chdtrc(lags, lm)),
        "breusch_godfrey_lags": lags,
    }
