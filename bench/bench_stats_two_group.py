"""How many two_group results and plans per second, beside the bare statsmodels call.

Run: .venv/bin/python bench/bench_stats_two_group.py
Prints a markdown table: for each method at a small pilot (40 units) and a large one
(5,000 units), results per second of the engine's function and of the statsmodels
call it wraps, so the engine's own overhead (data checks, relative lift, details)
is visible. Plain time.perf_counter, best of three rounds; keeps under a minute.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from statsmodels.stats.power import NormalIndPower, TTestIndPower  # noqa: E402
from statsmodels.stats.proportion import (  # noqa: E402
    confint_proportions_2indep,
    proportion_effectsize,
    test_proportions_2indep,
)
from statsmodels.stats.rates import (  # noqa: E402
    confint_poisson_2indep,
    power_poisson_ratio_2indep,
    test_poisson_2indep,
)
from statsmodels.stats.weightstats import CompareMeans  # noqa: E402

from pilots.stats.judgement import evaluate_two_group  # noqa: E402
from pilots.stats.planning import plan_means, plan_proportions, plan_rates  # noqa: E402
from pilots.stats.two_group import (  # noqa: E402
    compare_means,
    compare_proportions,
    compare_rates,
)

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


def cases(n: int):
    rng = np.random.default_rng(n)
    half = n // 2
    pilot, comparison = list(rng.normal(11, 3, half)), list(rng.normal(10, 3, half))
    x1, x2 = int(0.6 * half), int(0.5 * half)
    c1, c2, t1, t2 = int(0.3 * half) + 1, int(0.4 * half) + 1, float(half), float(half)

    def bare_means():
        cm = CompareMeans.from_data(pilot, comparison)
        cm.ttest_ind(usevar="unequal")
        cm.tconfint_diff(usevar="unequal")

    def bare_proportions():
        confint_proportions_2indep(x1, half, x2, half, method="newcomb", compare="diff")
        test_proportions_2indep(x1, half, x2, half, method="score", compare="diff")

    def bare_rates():
        test_poisson_2indep(c1, t1, c2, t2, method="score", compare="ratio")
        confint_poisson_2indep(c1, t1, c2, t2, method="score", compare="ratio")

    def judged_means():
        evaluate_two_group(
            pilot, comparison, metric="m", role="primary", direction="up", metric_type="mean"
        )

    return [
        ("means (Welch)", lambda: compare_means(pilot, comparison), bare_means),
        (
            "proportions (Newcombe + score)",
            lambda: compare_proportions(x1, half, x2, half),
            bare_proportions,
        ),
        ("rates (Poisson score)", lambda: compare_rates(c1, t1, c2, t2), bare_rates),
        ("means, judged (evaluate_two_group)", judged_means, bare_means),
    ]


def planning_cases(n: int):
    half = n // 2
    d = 2.8 / np.sqrt(half)  # an effect size near 80 % power at this size
    h = float(proportion_effectsize(0.6, 0.5))
    return [
        (
            "plan means (power)",
            lambda: plan_means(sd=1.0, difference=d, n_pilot=half, power=None),
            lambda: TTestIndPower().solve_power(effect_size=d, nobs1=half, alpha=0.05),
        ),
        (
            "plan means (n)",
            lambda: plan_means(sd=1.0, difference=d),
            lambda: TTestIndPower().solve_power(effect_size=d, alpha=0.05, power=0.8),
        ),
        (
            "plan proportions (n)",
            lambda: plan_proportions(baseline=0.5, difference=0.1),
            lambda: NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8),
        ),
        (
            "plan rates (power)",
            lambda: plan_rates(baseline_rate=0.5, rate_ratio=0.7, n_pilot=half, power=None),
            lambda: power_poisson_ratio_2indep(0.35, 0.5, half, value=1, alternative="two-sided"),
        ),
        (
            "plan rates (n, root finder)",
            lambda: plan_rates(baseline_rate=0.5, rate_ratio=0.7),
            lambda: power_poisson_ratio_2indep(0.35, 0.5, half, value=1, alternative="two-sided"),
        ),
    ]


def main() -> None:
    started = time.perf_counter()
    print("| method | units | engine results/s | bare statsmodels calls/s | overhead |")
    print("|---|---:|---:|---:|---:|")
    for n in (40, 5000):
        for name, engine, bare in cases(n) + planning_cases(n):
            ours, theirs = per_second(engine), per_second(bare)
            overhead = theirs / ours
            print(f"| {name} | {n:,} | {ours:,.0f} | {theirs:,.0f} | {overhead:.1f}x |")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
