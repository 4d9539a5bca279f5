"""One plain-language sentence per result, in Norwegian bokmål and English.

Leaders and frontline staff read this sentence first, often only this sentence, so it
is written for a nurse, not a statistician: what differed, by how much, how sure we
are, and what the verdict is. Numbers are formatted for each language as Babel does
(Norwegian: decimal comma and a non-breaking space between thousands, "1 234,5").
The judgement layer builds a `Result` and then asks this module for its `summary`;
nothing here decides a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache

from babel.numbers import format_decimal

from pilots.numbers import decimal_text

LOCALES = {"nb": "nb_NO", "en": "en_GB"}

VERDICT_PHRASES = {
    "improved": {"nb": "trolig en forbedring", "en": "probably an improvement"},
    "worsened": {"nb": "trolig en forverring", "en": "probably a change for the worse"},
    "no_clear_change": {"nb": "ingen tydelig endring", "en": "no clear change"},
}


# Decimal and group marks of the languages' number patterns, as Babel gives them for
# nb_NO and en_GB (a test holds `format_number` to Babel's `format_decimal`).
_MARKS = {"nb": (",", "\u00a0"), "en": (".", ",")}


def format_number(value: float, language: str, decimals: int = 1) -> str:
    """`value` rounded to `decimals` places in the language's own notation (as Babel)."""
    if isinstance(value, float):
        texts = _remembered_number_texts(value, decimals)
    else:
        texts = _number_texts(value, decimals)
    if texts is not None:
        return texts[language]
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return _unsigned_zero(format_decimal(value, format=pattern, locale=LOCALES[language]))


def _unsigned_zero(text: str) -> str:
    # "-0,0" reads as a signed effect where there is none.
    return text.lstrip("-\u2212") if text.lstrip("-\u2212").strip("0,.\u00a0") == "" else text


def _number_texts(value, decimals: int) -> dict[str, str] | None:
    """`value` as `format_number` writes it in each language, or None where Babel must
    answer. Rounded once: the languages differ only in their marks."""
    text = decimal_text(value, decimals, ".", ",")
    if text is None:
        return None
    if text.startswith("-") and not text.strip("-0,."):
        text = text[1:]  # as `_unsigned_zero`
    return {language: _with_marks(text, *marks) for language, marks in _MARKS.items()}


def _with_marks(text: str, decimal_mark: str, group_mark: str) -> str:
    """A number written with Python's marks ("1,234.5") in a language's marks."""
    if decimal_mark == "." and group_mark == ",":
        return text
    if "," not in text:
        return text.replace(".", decimal_mark)
    whole, point, fraction = text.partition(".")
    return whole.replace(",", group_mark) + (decimal_mark + fraction if point else "")


# A result's sentences write the same numbers in both languages, and every sentence
# writes its interval's level: remembering the last few numbers halves the rounding.
# Floats only, which hash; typed, so that 1.0 and np.float64(1.0) stay apart.
_remembered_number_texts = lru_cache(maxsize=256, typed=True)(_number_texts)


def decimals_for(
    low: float | None, high: float | None, estimate: float | None, minimum: int = 0
) -> int:
    """Enough decimals that the interval's half-width shows two significant digits.

    Between `minimum` and 3; percentage points use minimum 1 ("12,3 prosentpoeng").
    """
    spread = None
    if low is not None and high is not None and math.isfinite(high - low) and high > low:
        spread = (high - low) / 2
    elif estimate not in (None, 0) and math.isfinite(estimate):
        spread = abs(estimate)
    if not spread:
        return max(1, minimum)
    return max(minimum, min(3, 1 - math.floor(math.log10(spread))))


def _name(metric: str, metric_name, language: str) -> str:
    if isinstance(metric_name, Mapping):
        return metric_name.get(language) or next(iter(metric_name.values()), metric)
    return metric_name or metric


@lru_cache(maxsize=64, typed=True)
def _interval_label(language: str, alpha: float, sequential: bool) -> str:
    level = format_number(100 * (1 - alpha), language, 0)
    if language == "nb":
        return f"{level} % KI" + (", justert for gjentatte vurderinger," if sequential else "")
    return f"{level}% CI" + (", adjusted for repeated looks," if sequential else "")


def _to(language: str) -> str:
    return "til" if language == "nb" else "to"


def _with_unit(text: str, unit: str | None) -> str:
    return f"{text} {unit}" if unit else text


def _written(value: float, decimals: int) -> dict[str, str]:
    """`format_number` in every language at once: the rounding is the same for all."""
    texts = _number_texts(value, decimals)
    if texts is None:
        return {language: format_number(value, language, decimals) for language in LOCALES}
    return texts


def effect_decimals(kind: str, estimate: float, low: float, high: float) -> int:
    """The decimals an effect and its interval are written with: in the sentence, and on
    the result card beside it, so the two read alike. Enough that the interval's
    half-width shows two significant digits (`decimals_for`); at least one for
    percentage points of a share, at least two for a ratio. `kind` as in
    `effect_sentence`; a share's values as fractions."""
    if kind == "ratio":
        return max(decimals_for(low, high, estimate), 2)
    if kind == "proportion":
        return decimals_for(low * 100.0, high * 100.0, estimate * 100.0, minimum=1)
    return decimals_for(low, high, estimate)


def _clause_figures(kind: str, estimate: float, low: float, high: float) -> tuple[bool, dict]:
    """The numbers of the effect clause written in every language, and its direction.

    For ratios: the per cent difference, the ratio and its interval, and whether the
    ratio is at least 1; otherwise the size of the effect (in percentage points for
    proportions) and its interval, and whether the effect is at least 0.
    """
    d = effect_decimals(kind, estimate, low, high)
    if kind == "ratio":
        figures = {
            "percent": _written(abs(estimate - 1) * 100, 0),
            "ratio": _written(estimate, d),
            "low": _written(low, d),
            "high": _written(high, d),
        }
        return estimate >= 1, figures
    scale = 100.0 if kind == "proportion" else 1.0
    est, lo, hi = estimate * scale, low * scale, high * scale
    figures = {"amount": _written(abs(est), d), "low": _written(lo, d), "high": _written(hi, d)}
    return est >= 0, figures


def _effect_clause(
    *,
    language: str,
    design: str,
    kind: str,
    figures: dict,
    up: bool,
    unit: str | None,
    interval_label: str,
) -> str:
    """The 'what differed and by how much' clause, with its interval in brackets."""
    nb = language == "nb"
    low, high = figures["low"][language], figures["high"][language]
    if kind == "ratio":
        percent = figures["percent"][language]
        bracket = (
            f"({'forholdstall' if nb else 'ratio'} {figures['ratio'][language]}; "
            f"{interval_label} {low} {_to(language)} {high})"
        )
        if nb:
            side = "høyere" if up else "lavere"
            return (
                f"raten var {percent} % {side} i pilotgruppen enn i sammenligningsgruppen {bracket}"
            )
        side = "higher" if up else "lower"
        return (
            f"the rate was {percent}% {side} in the pilot group than in the comparison group "
            f"{bracket}"
        )

    amount = figures["amount"][language]
    if kind == "proportion" or in_percent(unit):
        # a difference between two shares, or two levels given in per cent, is in points
        amount = f"{amount} {'prosentpoeng' if nb else 'percentage points'}"
    else:
        amount = _with_unit(amount, unit)
    bracket = f"({interval_label} {low} {_to(language)} {high})"
    if design == "pre_post":
        if nb:
            return f"nivået {'steg' if up else 'falt'} med {amount} da piloten startet {bracket}"
        return f"the level {'rose' if up else 'fell'} by {amount} when the pilot started {bracket}"
    if design == "did":
        if nb:
            return (
                f"i pilotgruppen gikk tallet {amount} mer {'opp' if up else 'ned'} "
                f"enn i sammenligningsgruppen {bracket}"
            )
        return (
            f"in the pilot group the figure went {amount} further {'up' if up else 'down'} "
            f"than in the comparison group {bracket}"
        )
    if kind == "proportion":
        subject = "andelen" if nb else "the share"
    else:
        subject = "gjennomsnittet" if nb else "the average"
    if nb:
        side = "høyere" if up else "lavere"
        return f"{subject} var {amount} {side} i pilotgruppen enn i sammenligningsgruppen {bracket}"
    side = "higher" if up else "lower"
    return (
        f"{subject} was {amount} {side} in the pilot group than in the comparison group {bracket}"
    )


_PERCENT_UNITS = {"%", "prosent", "percent", "per cent", "pst", "pst."}


def in_percent(unit: str | None) -> bool:
    """Whether the metric's unit is per cent (so a difference of it is percentage points)."""
    return bool(unit) and unit.strip().lower() in _PERCENT_UNITS


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def display_name(metric: str, metric_name, language: str) -> str:
    """The metric's name in `language` (a str, or a mapping language -> name), capitalised."""
    return _capitalise(_name(metric, metric_name, language))


def _verdict_phrase(verdict: str, language: str, below_mid: bool, mid_text: str | None) -> str:
    if below_mid:
        if language == "nb":
            return "en forbedring, men mindre enn den forhåndsbestemte viktige forskjellen" + (
                f" på {mid_text}" if mid_text else ""
            )
        return "an improvement, but smaller than the pre-set important difference" + (
            f" of {mid_text}" if mid_text else ""
        )
    return VERDICT_PHRASES[verdict][language]


def insufficient_sentence(name: str, language: str) -> str:
    """The sentence for `insufficient_data`."""
    if language == "nb":
        return f"{name}: for lite data til å si noe sikkert ennå."
    return f"{name}: not enough data to say anything reliable yet."


def spc_sentence(name: str, language: str, improvement: int, concern: int) -> str:
    """The sentence for a run chart (spc) verdict, from its signals after the start."""
    nb = language == "nb"
    if improvement and concern:
        if nb:
            return (
                f"{name}: etter oppstart viser kurven både tegn på forbedring og tegn på "
                "forverring; se nærmere på kurven før dere konkluderer."
            )
        return (
            f"{name}: since the start the chart shows signs of both improvement and "
            "deterioration; look at the chart before drawing conclusions."
        )
    if improvement:
        if nb:
            return f"{name}: etter oppstart viser kurven et tydelig tegn på forbedring."
        return f"{name}: since the start the chart shows a clear sign of improvement."
    if concern:
        if nb:
            return f"{name}: etter oppstart viser kurven et tydelig tegn på forverring."
        return f"{name}: since the start the chart shows a clear sign of deterioration."
    if nb:
        return f"{name}: etter oppstart varierer kurven som før; ingen tydelig endring."
    return f"{name}: since the start the chart varies as before; no clear change."


def effect_sentence(*, language: str, **wording) -> str:
    """'<Metric>: <what differed> (<interval>); <verdict>.' in one language; `wording`
    as `effect_sentences` takes it.

    `kind` is "mean", "proportion" (shown in percentage points) or "ratio" (shown as
    a per cent difference with the ratio and its interval).
    """
    return effect_sentences(**wording)[language]


def effect_sentences(
    *,
    metric: str,
    metric_name,
    design: str,
    kind: str,
    verdict: str,
    estimate: float,
    low: float,
    high: float,
    alpha: float,
    sequential: bool,
    unit: str | None = None,
    below_mid: bool = False,
    mid: float | None = None,
) -> dict[str, str]:
    """The effect sentence in every language of `LOCALES`, language code -> sentence,
    with the numbers rounded once for all languages (every result gets one sentence per
    language). See `effect_sentence`.
    """
    up, figures = _clause_figures(kind, estimate, low, high)
    wording = (metric, metric_name, design, kind, verdict, alpha, sequential, unit, below_mid, mid)
    return {language: _sentence_in(language, figures, up, *wording) for language in LOCALES}


def _sentence_in(
    language,
    figures,
    up,
    metric,
    metric_name,
    design,
    kind,
    verdict,
    alpha,
    sequential,
    unit,
    below_mid,
    mid,
) -> str:
    """One language's effect sentence, its numbers already written (`_clause_figures`)."""
    name = display_name(metric, metric_name, language)
    if unit is not None:
        unit = _name("", unit, language) or None
    clause = _effect_clause(
        language=language,
        design=design,
        kind=kind,
        figures=figures,
        up=up,
        unit=unit,
        interval_label=_interval_label(language, alpha, sequential),
    )
    mid_text = None
    if mid is not None:
        if kind == "ratio":
            mid_text = format_number(abs(mid) * 100, language, 0) + (
                " %" if language == "nb" else "%"
            )
        elif kind == "proportion":
            pp = format_number(abs(mid) * 100, language, decimals_for(None, None, mid * 100))
            mid_text = f"{pp} {'prosentpoeng' if language == 'nb' else 'percentage points'}"
        else:
            mid_text = _with_unit(
                format_number(abs(mid), language, decimals_for(None, None, mid)), unit
            )
    phrase = _verdict_phrase(verdict, language, below_mid, mid_text)
    return f"{name}: {clause}; {phrase}."
