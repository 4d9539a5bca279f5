"""How many pre_post, did and spc results per second, beside the bare call each wraps.

Run: .venv/bin/python bench/bench_stats_series.py
Prints a markdown table: for interrupted time series (a 60-period series, values and
counts), difference in differences (40 units x 6 periods with cluster errors and with
permutation inference, and 5,000 unit-rows) and the XmR chart (60 periods), results
per second of the engine's function and of the bare statsmodels fit (for spc: a bare
numpy computation of the limits), so the engine's overhead (period grid, data checks,
diagnostics, pre-trend check, rules, details) is visible. Plain time.perf_counter,
best of three rounds; keeps under a minute.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import statsmodels.api as sm  # noqa: E402
import statsmodels.formula.api as smf  # noqa: E402

from pilots.stats.did import difference_in_differences  # noqa: E402
from pilots.stats.its import design_frame, interrupted_time_series  # noqa: E402
from pilots.stats.spc import xmr_chart  # noqa: E402

BUDGET_SECONDS = 0.25  # per measurement round


def per_second(call) -> float:
    """Calls per second, best of three rounds of about BUDGET_SECONDS each."""
    call()
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < BUDGET_SECONDS:
            call()
            count += 1
        best = max(best, count / elapsed)
    return best


def series_cases():
    rng = np.random.default_rng(60)
    t = np.arange(60)
    values = 50 + 0.2 * t + 5 * (t >= 36) + rng.normal(0, 3, 60)
    counts = rng.poisson(800 * np.exp(-0.1 * (t >= 36)))
    exposure = np.full(60, 380000.0)
    observations = list(zip(t.tolist(), values.tolist(), strict=True))
    count_rows = list(zip(t.tolist(), counts.tolist(), exposure.tolist(), strict=True))
    frame = design_frame(t.tolist(), 36).assign(y=values)
    count_frame = design_frame(t.tolist(), 36).assign(y=counts)
    hac = {"cov_type": "HAC", "cov_kwds": {"maxlags": 3, "use_correction": True}, "use_t": True}

    def bare_ols():
        smf.ols("y ~ t + post + t_post", data=frame).fit(**hac)

    def bare_poisson():
        smf.glm(
            "y ~ t + post + t_post",
            data=count_frame,
            family=sm.families.Poisson(),
            offset=np.log(exposure),
        ).fit(**hac)

    def bare_limits():
        baseline = values[:36]
        ranges = np.abs(np.diff(baseline))
        mean_range = ranges[ranges < 3.267 * ranges.mean()].mean()
        centre = baseline.mean()
        return centre - 2.66 * mean_range, centre + 2.66 * mean_range

    return [
        (
            "its values, 60 periods",
            lambda: interrupted_time_series(observations, 36),
            bare_ols,
            "smf.ols(...).fit(HAC)",
        ),
        (
            "its counts, 60 periods",
            lambda: interrupted_time_series(count_rows, 36),
            bare_poisson,
            "smf.glm(Poisson).fit(HAC)",
        ),
        (
            "spc, 60 periods",
            lambda: xmr_chart(observations, 36),
            bare_limits,
            "numpy limits",
        ),
    ]


def panel(n_units: int, periods: int, n_pilot: int, seed: int):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_units):
        arm = "pilot" if u < n_pilot else "comparison"
        level = rng.normal(0, 2)
        for t in range(periods):
            effect = 1.0 if (arm == "pilot" and t >= periods // 2) else 0.0
            rows.append((u, arm, t, level + 0.2 * t + effect + rng.normal()))
    return rows


def did_cases():
    out = []
    for label, n_units, periods, n_pilot in (
        ("did 40 units x 6, cluster", 40, 6, 20),
        ("did 40 units x 6, permutation (4 pilot)", 40, 6, 4),
        ("did 5,000 unit-rows, cluster", 2500, 2, 1250),
    ):
        rows = panel(n_units, periods, n_pilot, seed=n_units + n_pilot)
        frame = pd.DataFrame(rows, columns=["unit", "arm", "t", "y"])
        frame["arm"] = (frame["arm"] == "pilot").astype(float)
        frame["post"] = (frame["t"] >= periods // 2).astype(float)
        groups = frame["unit"].to_numpy()

        def bare(frame=frame, groups=groups):
            smf.ols("y ~ arm * post", data=frame).fit(
                cov_type="cluster", cov_kwds={"groups": groups}, use_t=True
            )

        def engine(rows=rows, start=periods // 2):
            difference_in_differences(rows, start)

        out.append((label, engine, bare, "smf.ols(...).fit(cluster)"))
    return out


def main() -> None:
    print("| case | engine results/s | bare call | bare calls/s | engine / bare time |")
    print("|---|---:|---|---:|---:|")
    for label, engine, bare, bare_name in series_cases() + did_cases():
        engine_rate, bare_rate = per_second(engine), per_second(bare)
        print(
            f"| {label} | {engine_rate:,.0f} | {bare_name} | {bare_rate:,.0f} "
            f"| {bare_rate / engine_rate:.1f}x |"
        )


if __name__ == "__main__":
    main()
