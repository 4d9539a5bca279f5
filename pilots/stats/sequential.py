"""Always-valid intervals for pilots that are looked at again and again.

The scheduler evaluates a running pilot on its cadence, and people read every result.
An ordinary 95 % interval read every week will, sooner or later, exclude zero by
chance alone. A confidence sequence is a sequence of intervals that covers the true
effect at every look at once with 95 % probability, so the verdict on a scheduled look
can be read as often as anyone likes. This module computes the normal-mixture
confidence sequence that GrowthBook uses, from an estimate, its standard error and the
sample size; `judgement` uses it for verdicts when `scheduled_look=True` and puts it in
`details["sequential_ci_low"]` / `details["sequential_ci_high"]`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

# GrowthBook's default tuning parameter is 5,000 (web-scale experiments). Pilots here
# plan tens to a few hundred units, and the sequence is narrowest near the tuning
# value, so the default is a typical pilot size. Callers should pass the pilot's
# planned total sample size when they know it.
DEFAULT_TUNING = 100.0


@dataclass(frozen=True)
class SequentialInterval:
    """An always-valid interval for one look, with the numbers that built it."""

    low: float
    high: float
    halfwidth: float
    rho: float
    tuning: float
    alpha: float


# Remembered: a pilot's alpha and tuning are the same at every look and every metric.
@lru_cache(maxsize=256)
def mixture_rho(alpha: float, tuning: float) -> float:
    """The mixing parameter rho that makes the sequence tightest near n = `tuning`.

    Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas (2023), "Time-uniform central
    limit theory and asymptotic confidence sequences", Annals of Statistics (arXiv
    2103.06476), eq. (161), as GrowthBook implements it (gbstats
    `frequentist/tests.py`, `SequentialTwoSidedTTest`):
    rho = sqrt((-2 ln(alpha) + ln(-2 ln(alpha) + 1)) / tuning).
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must lie strictly between 0 and 1")
    if not tuning > 0:
        raise ValueError("the tuning parameter must be positive")
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(-2 * log_alpha + 1)) / tuning)


def mixture_halfwidth(se: float, n: int, *, alpha: float = 0.05, tuning: float = DEFAULT_TUNING):
    """Half-width of the two-sided normal-mixture confidence sequence at sample size n.

    Waudby-Smith et al. (2023), eq. (9) (the asymptotic confidence sequence), with
    sigma^2 = se^2 * n the per-unit variance as GrowthBook passes it:
    halfwidth = sigma * sqrt(2 (n rho^2 + 1) / (n^2 rho^2) * ln(sqrt(n rho^2 + 1) / alpha)).
    This equals the two-sided normal-mixture boundary of Howard, Ramdas, McAuliffe and
    Sekhon (2021), "Time-uniform, nonparametric, nonasymptotic confidence sequences",
    Annals of Statistics 49:1055-1080, eq. (14), with intrinsic time V = n and mixing
    variance 1/rho^2, divided by n.
    """
    if not se >= 0 or n < 1:
        raise ValueError("need se >= 0 and n >= 1")
    rho = mixture_rho(alpha, tuning)
    n_rho2 = n * rho**2
    sigma = se * math.sqrt(n)
    return sigma * math.sqrt(
        2 * (n_rho2 + 1) / (n * n_rho2) * math.log(math.sqrt(n_rho2 + 1) / alpha)
    )


def confidence_sequence(
    estimate: float,
    se: float,
    n: int,
    *,
    alpha: float = 0.05,
    tuning: float = DEFAULT_TUNING,
    log_scale: bool = False,
) -> SequentialInterval:
    """Always-valid interval estimate +/- `mixture_halfwidth(se, n)`.

    For ratios (`log_scale=True`) `estimate` is the ratio and `se` the standard error
    of its logarithm: the sequence is built for log(ratio) and transformed back, so the
    interval stays positive and asymmetric like the fixed one. The guarantee is
    asymptotic (it relies on the central limit theorem at each look), like the fixed
    interval's normal approximation.
    """
    halfwidth = mixture_halfwidth(se, n, alpha=alpha, tuning=tuning)
    rho = mixture_rho(alpha, tuning)
    if log_scale:
        if not estimate > 0:
            raise ValueError("a ratio on the log scale must be positive")
        centre = math.log(estimate)
        low, high = math.exp(centre - halfwidth), math.exp(centre + halfwidth)
    else:
        low, high = estimate - halfwidth, estimate + halfwidth
    return SequentialInterval(low, high, halfwidth, rho, float(tuning), alpha)
