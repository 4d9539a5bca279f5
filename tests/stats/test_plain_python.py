"""Engine steps written in plain Python give what the library calls they replace gave.

`revised` fills a new Result's fields directly instead of calling its `__init__`, and
the did panel's per-arm sums are taken six columns at a time instead of one masked
column at a time. Each must give exactly the old answer, so that stored results do
not change with the speed-up.
"""

import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilots.stats.did import _ARM_COLUMNS, UnitPanel, arm_sums
from pilots.stats.result import DataWarning, Result, revised


def a_result(**changes):
    fields = {
        "metric": "waiting_days",
        "role": "secondary",
        "design": "did",
        "method": "did_cluster",
        "estimate": -1.5,
        "ci_low": -2.5,
        "ci_high": -0.5,
        "p_value": 0.01,
        "n_pilot": 10,
        "n_comparison": 10,
        "probability_improved": 0.99,
        "verdict": "improved",
        "summary": {"en": "Waiting days fell."},
        "details": {"alpha": 0.05},
        "warnings": (DataWarning("pre_trend", {"p_value": 0.04}),),
    }
    return Result(**{**fields, **changes})


@pytest.mark.parametrize(
    "changes",
    [{}, {"details": {"p_value_holm": 0.2}}, {"verdict": "no_clear_change", "summary": {}}],
)
def test_revised_is_dataclasses_replace(changes):
    result = a_result()
    new = revised(result, **changes)
    expected = dataclasses.replace(result, **changes)
    assert new == expected
    assert list(new.__dict__) == list(expected.__dict__)
    assert pickle.dumps(new) == pickle.dumps(expected)
    assert result == a_result()  # the original is left as it was


def test_revised_refuses_unknown_fields_and_stays_frozen():
    with pytest.raises(TypeError):
        revised(a_result(), verdit="improved")
    with pytest.raises(dataclasses.FrozenInstanceError):
        revised(a_result()).verdict = "worsened"


VALUES = st.floats(-1e6, 1e6, allow_nan=False)


@given(st.lists(st.tuples(st.booleans(), *[VALUES] * 7), min_size=1, max_size=40))
def test_arm_sums_are_numpys_masked_sums(units):
    columns = np.array([[float(arm), *values] for arm, *values in units])
    panel = UnitPanel(*(columns[:, i] for i in range(8)))
    sums = arm_sums(panel)
    for arm in (1.0, 0.0):
        for name in _ARM_COLUMNS:
            column = getattr(panel, name)
            expected = float(np.add.reduce(column[panel.arm == arm]))
            assert sums[arm][name] == expected
            assert np.copysign(1.0, sums[arm][name]) == np.copysign(1.0, expected)


@pytest.mark.parametrize("units", [1, 9, 20, 130, 300])
def test_arm_sums_of_column_views_are_numpys_masked_sums(units):
    # As inputs builds a panel: columns are strided views of one (units x 8) table.
    rng = np.random.default_rng(units)
    table = rng.normal(3.0, 2.0, (units, 8)) * 10.0 ** rng.integers(-4, 5, (units, 8))
    table[:, 0] = rng.integers(0, 2, units)
    panel = UnitPanel(*(table[:, i] for i in range(8)))
    sums = arm_sums(panel)
    for arm in (1.0, 0.0):
        for name in _ARM_COLUMNS:
            column = getattr(panel, name)
            assert sums[arm][name] == float(np.add.reduce(column[panel.arm == arm]))
