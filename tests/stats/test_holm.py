"""Holm's step-down, written out in pilots.stats.several, agrees with statsmodels'
`multipletests(method="holm")` on any p-values (the reference implementation), and
with the worked example in Holm (1979)'s procedure as R's p.adjust gives it."""

from hypothesis import given
from hypothesis import strategies as st
from pytest import approx
from statsmodels.stats.multitest import multipletests

from pilots.stats.several import holm_adjust


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=12))
def test_holm_agrees_with_statsmodels(p_values):
    expected = multipletests(p_values, method="holm")[1]
    assert list(holm_adjust(p_values)) == approx(list(expected), abs=1e-12)


def test_holm_r_p_adjust_example():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), method = "holm") -> 0.03 0.06 0.06 0.02
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == approx((0.03, 0.06, 0.06, 0.02))


def test_missing_p_values_stay_missing():
    assert holm_adjust([None, 0.02, None, 0.04]) == (None, 0.04, None, 0.04)
