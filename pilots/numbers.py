"""Numbers written as Babel writes them with the pattern "#,##0.0...", only faster.

Babel parses the pattern and looks the locale up on every call; a results table or a
scheduled evaluation writes thousands of numbers. The steps here are Babel's own: the
shortest decimal that reads back as the float, rounded half to even, grouped by
thousands, the sign kept on a value that rounds to zero. Pure: the caller supplies
the language's marks. Tests hold both callers to Babel's output.
"""

from __future__ import annotations

from decimal import Decimal

# The rounding steps 1, 0.1, 0.01, ... made once: making one costs as much as the
# rounding itself. Decimal's precision (28 digits) bounds the useful ones.
_STEPS = tuple(Decimal(10) ** -digits for digits in range(29))


def decimal_text(value, digits: int, decimal_mark: str, group_mark: str) -> str | None:
    """`value` with `digits` decimals and the given marks, or None where Babel must
    answer (infinities, NaN, more digits than Decimal's precision, negative digits)."""
    try:
        number = Decimal(str(value))
        if not number.is_finite() or digits < 0:
            return None
        step = _STEPS[digits] if digits < len(_STEPS) else Decimal(10) ** -digits
        rounded = number.normalize().quantize(step)
    except (ArithmeticError, ValueError):
        return None
    if rounded.adjusted() < 3 and digits <= 6:
        # Below 1000 there is nothing to group, and with at most six decimals str()
        # writes plain notation (never "1E-7"): the quick way for most numbers.
        text = str(rounded)
        return text.replace(".", decimal_mark) if digits else text
    # Decimal's own format groups by thousands and keeps the sign of a rounded zero.
    whole, point, fraction = f"{rounded:,f}".partition(".")
    return whole.replace(",", group_mark) + (decimal_mark + fraction if point else "")
