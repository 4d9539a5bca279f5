"""Numbers in the sentences: written as babel writes them, in both languages."""

import pytest
from babel.numbers import format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from pilots.stats.summary import effect_sentences, format_number

LOCALES = {"nb": "nb_NO", "en": "en_GB"}


@settings(max_examples=300, deadline=None)
@given(
    value=st.one_of(
        st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
        st.integers(min_value=-(10**7), max_value=10**7).map(lambda k: k / 1000),
    ),
    decimals=st.integers(min_value=0, max_value=3),
    language=st.sampled_from(["nb", "en"]),
)
def test_format_number_writes_what_babel_writes(value, decimals, language):
    """Reference: babel's `format_decimal` with the pattern "#,##0.0..." (half-even)."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    expected = format_decimal(value, format=pattern, locale=LOCALES[language])
    if expected.lstrip("-").strip("0,.\u00a0") == "":
        expected = expected.lstrip("-")  # no sign on a zero
    assert format_number(value, language, decimals) == expected


@pytest.mark.parametrize(
    ("value", "language", "decimals", "text"),
    [
        (-12345.675, "nb", 2, "-12\u00a0345,68"),
        (-12345.675, "en", 2, "-12,345.68"),
        (2.675, "nb", 2, "2,68"),  # the decimal 2.675 rounds half to even, up
        (-0.04, "nb", 1, "0,0"),
    ],
)
def test_format_number_examples(value, language, decimals, text):
    assert format_number(value, language, decimals) == text


def test_a_difference_of_levels_given_in_per_cent_is_in_percentage_points():
    wording = dict(
        metric="staff-sick-leave",
        metric_name={"nb": "Sykefravær i teamet", "en": "Sick leave in the team"},
        design="two_group",
        kind="mean",
        verdict="no_clear_change",
        estimate=0.34,
        low=-1.14,
        high=1.81,
        alpha=0.05,
        sequential=False,
    )
    sentences = effect_sentences(**wording, unit="%")
    assert "0,3 prosentpoeng høyere" in sentences["nb"]
    assert "0.3 percentage points higher" in sentences["en"]
    assert "0,3 % høyere" not in sentences["nb"]
    # other units keep their own name
    assert "0,3 døgn høyere" in effect_sentences(**wording, unit="døgn")["nb"]
