"""Numbers written as Babel writes them with the pattern "#,##0.0...", only faster.

Babel parses the pattern and looks the locale up on every call; a results table or a
scheduled evaluation writes thousands of numbers. The steps here are Babel's own: the
shortest decimal that reads back as the float, rounded half to even, grouped by
thousands, the sign kept on a value that rounds to zero. Pure: the caller supplies
the language's marks. Tests hold both callers to Babel's output.
"""

from __future__ import annotations

from decimal import Decimal


def decimal_text(value, digits: int, decimal_mark: str, group_mark: str) -> str | None:
    """`value` with `digits` decimals and the given marks, or None where Babel must
    answer (infinities, NaN, more digits than Decimal's precision, negative digits)."""
    try:
        number = Decimal(str(value))
        if not number.is_finite() or digits < 0:
            return None
        rounded = abs(number).normalize().quantize(Decimal(10) ** -digits)
    except (ArithmeticError, ValueError):
        return None
    whole, _point, fraction = f"{rounded:f}".partition(".")
    groups = []
    while len(whole) > 3:
        groups.append(whole[-3:])
        whole = whole[:-3]
    groups.append(whole)
    text = group_mark.join(reversed(groups))
    if digits:
        text += decimal_mark + fraction
    return "-" + text if number.is_signed() else text
