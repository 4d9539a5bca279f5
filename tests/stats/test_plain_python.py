"""Engine steps written in plain Python give what the code they replace gave.

`revised` fills a new Result's fields directly instead of calling its `__init__`. It
must give exactly what `dataclasses.replace` gave, so that stored results do not change
with the speed-up.
"""

import dataclasses
import pickle

import pytest

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
