"""A pilot's metrics read together: primary, secondary and balancing.

A pilot pre-registers one primary metric, some secondary metrics and some balancing
(guardrail) metrics. Judged one by one, ten secondary metrics give a fair chance that
one "improves" by luck, so secondary p-values are Holm-adjusted and a secondary
verdict of improved or worsened stands only if its adjusted p-value is below alpha.
Balancing metrics guard against harm, so they are deliberately not corrected: any
sign of harm is shown. The primary metric is left as judged. This module takes the
`Result`s that `judgement.judge` produced and returns them reviewed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pilots.stats import summary
from pilots.stats.result import Result, revised

# A balancing metric is a "possible concern" when, although its interval does not
# yet show harm, the normal approximation puts the chance of harm at 80 % or more.
POSSIBLE_CONCERN_PROBABILITY = 0.8
# Added to the sentence of a secondary verdict that the Holm adjustment took back.
_HOLM_NOTES = {
    "nb": " (etter justering for flere sekundære mål)",
    "en": " (after adjusting for several secondary metrics)",
}


def holm_adjust(
    p_values: Sequence[float | None], *, alpha: float = 0.05
) -> tuple[float | None, ...]:
    """Holm step-down adjusted p-values; None entries are skipped and stay None.

    Method: Holm (1979), "A simple sequentially rejective multiple test procedure",
    Scandinavian Journal of Statistics 6:65-70: sort the m p-values, multiply the
    j-th smallest by (m - j + 1), carry the running maximum, cap at 1. This is what
    statsmodels' `multipletests(p, method="holm")` computes (its default, "hs", is
    Holm-Sidak), and the tests check both against R's `p.adjust`. It is written out
    because `multipletests` in statsmodels 0.15 runs a full garbage collection on
    every call, which dominated a scheduled evaluation of many pilots.
    """
    present = [(i, p) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if not present:
        return tuple(adjusted)
    values = [p for _, p in present]
    if all(isinstance(p, float) and math.isfinite(p) for p in values):
        corrected = _holm_steps([float(p) for p in values])
    else:
        corrected = _holm_numpy(values)
    for (i, _), q in zip(present, corrected, strict=True):
        adjusted[i] = q
    return tuple(adjusted)


def _holm_numpy(values: list) -> list[float]:
    """Holm's steps in numpy, for any p-values (NaN and infinities included)."""
    array = np.asarray(values, dtype=float)
    order = np.argsort(array, kind="stable")
    factors = len(array) - np.arange(len(array))
    stepped = np.minimum(1.0, np.maximum.accumulate(factors * array[order]))
    corrected = np.empty_like(stepped)
    corrected[order] = stepped
    return corrected.tolist()


def _holm_steps(values: list[float]) -> list[float]:
    """`holm_adjust`'s numpy steps in plain Python, for a pilot's few finite p-values.

    numpy's per-call overhead cost more than the arithmetic here. The same floats: a
    stable sort, the same products (m - j + 1) x p, and max/min, which pick one of
    their arguments and so round nothing.
    """
    order = sorted(range(len(values)), key=values.__getitem__)
    corrected = [0.0] * len(values)
    running = -math.inf
    for j, i in enumerate(order):
        running = max(running, (len(values) - j) * values[i])
        corrected[i] = min(1.0, running)
    return corrected


def _resummarise(result: Result, verdict: str) -> dict[str, str]:
    d = result.details
    if result.estimate is None or result.ci_low is None or result.ci_high is None:
        return dict(result.summary)
    sequential = d.get("verdict_interval") == "sequential"
    low = d["sequential_ci_low"] if sequential else result.ci_low
    high = d["sequential_ci_high"] if sequential else result.ci_high
    if d.get("scale") == "log":
        kind = "ratio"
    else:
        kind = "proportion" if d.get("metric_type") == "proportion" else "mean"
    sentences = summary.effect_sentences(
        metric=result.metric,
        metric_name=d.get("metric_name"),
        design=result.design,
        kind=kind,
        verdict=verdict,
        estimate=result.estimate,
        low=low,
        high=high,
        alpha=d.get("alpha", 0.05),
        sequential=sequential,
        unit=d.get("unit"),
    )
    return {
        language: sentence[:-1] + _HOLM_NOTES[language] + "."
        for language, sentence in sentences.items()
    }


def review_several(results: Sequence[Result], *, alpha: float = 0.05) -> tuple[Result, ...]:
    """Holm across secondary metrics; flag concerns on balancing metrics.

    Secondary: `details["p_value_holm"]` is the Holm-adjusted p-value over all
    secondary results that have a p-value. An improved or worsened verdict whose
    adjusted p-value is not below `alpha` becomes no_clear_change, with
    `details["holm_downgraded"] = True` and a summary that says why. The adjustment
    uses the fixed-sample p-values, also on scheduled looks.
    Balancing: no correction. `details["balancing_concern"]` is "clear" when the
    verdict is worsened, "possible" when the probability of harm is at least
    `POSSIBLE_CONCERN_PROBABILITY`, else None.
    Primary and other roles pass through unchanged.
    """
    secondary = [i for i, r in enumerate(results) if r.role == "secondary"]
    adjusted = holm_adjust([results[i].p_value for i in secondary], alpha=alpha)
    holm = dict(zip(secondary, adjusted, strict=True))
    reviewed = []
    for i, result in enumerate(results):
        if result.role == "secondary":
            q = holm[i]
            details = {**result.details, "p_value_holm": q, "holm_downgraded": False}
            if result.verdict in ("improved", "worsened") and (q is None or q >= alpha):
                details["holm_downgraded"] = True
                result = revised(
                    result,
                    verdict="no_clear_change",
                    summary=_resummarise(result, "no_clear_change"),
                    details=details,
                )
            else:
                result = revised(result, details=details)
        elif result.role == "balancing":
            result = revised(
                result, details={**result.details, "balancing_concern": _concern(result)}
            )
        reviewed.append(result)
    return tuple(reviewed)


def _concern(result: Result) -> str | None:
    if result.verdict == "worsened":
        return "clear"
    probability = result.probability_improved
    if probability is not None and 1 - probability >= POSSIBLE_CONCERN_PROBABILITY:
        return "possible"
    return None


def balancing_concerns(results: Sequence[Result]) -> tuple[str, ...]:
    """Slugs of balancing metrics with a clear or possible concern (after `review_several`)."""
    return tuple(
        r.metric
        for r in results
        if r.role == "balancing" and (r.details.get("balancing_concern") or _concern(r))
    )
