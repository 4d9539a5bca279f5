"""The library calls written out for speed give the library's numbers, to the last bit.

`newcombe_interval` and `score_test_p` replace statsmodels' two-proportion interval
and test, `mean_and_variance` replaces `np.mean` and `np.var(ddof=1)`, and
`effect_sentences` writes both languages' sentences at once. Each must give exactly
what it replaces, so that stored results do not change with the speed-up.
"""

import numpy as np
import pytest
from statsmodels.stats import proportion

from pilots.stats import summary
from pilots.stats.two_group import mean_and_variance, newcombe_interval, score_test_p

COUNTS = [
    (x1, n1, x2, n2)
    for n1 in (1, 2, 5, 7, 10, 33, 250)
    for n2 in (1, 3, 10, 56)
    for x1 in sorted({0, 1, n1 // 3, n1 - 1, n1})
    for x2 in sorted({0, n2 // 2, n2})
]


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_newcombe_interval_is_statsmodels_to_the_bit(alpha):
    for x1, n1, x2, n2 in COUNTS:
        low, high = proportion.confint_proportions_2indep(
            x1, n1, x2, n2, method="newcomb", compare="diff", alpha=alpha
        )
        assert newcombe_interval(x1, n1, x2, n2, alpha) == (float(low), float(high))


def test_score_test_p_is_statsmodels_to_the_bit():
    for x1, n1, x2, n2 in COUNTS:
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = proportion.test_proportions_2indep(
                x1, n1, x2, n2, value=0, method="score", compare="diff", correction=True
            ).pvalue
        if np.isfinite(expected):
            assert score_test_p(x1, n1, x2, n2) == float(expected)
        else:
            assert score_test_p(x1, n1, x2, n2) is None


@pytest.mark.parametrize("size", [2, 3, 8, 9, 17, 40, 200])
def test_mean_and_variance_are_numpys(size):
    rng = np.random.default_rng(size)
    for scale in (1e-6, 1.0, 1e5):
        values = tuple(float(v) for v in rng.normal(3.0, 2.0, size) * scale)
        assert mean_and_variance(values) == (
            float(np.mean(values)),
            float(np.var(values, ddof=1)),
        )


@pytest.mark.parametrize(
    "kind, estimate, low, high, mid, unit",
    [
        ("mean", 12.345, 3.2, 21.49, 5.0, {"nb": "minutter", "en": "minutes"}),
        ("mean", -1234.5, -2500.0, 31.0, None, "kr"),
        ("proportion", 0.1234, -0.02, 0.267, 0.05, None),
        ("ratio", 1.27, 1.02, 1.58, 0.1, None),
        ("ratio", 0.8, 0.61, 1.05, None, None),
    ],
)
def test_effect_sentences_are_effect_sentence_in_each_language(
    kind, estimate, low, high, mid, unit
):
    for design in ("two_group", "pre_post", "did"):
        wording = {
            "metric": "waiting_time",
            "metric_name": {"nb": "ventetid", "en": "waiting time"},
            "design": design,
            "kind": kind,
            "verdict": "improved",
            "estimate": estimate,
            "low": low,
            "high": high,
            "alpha": 0.05,
            "sequential": design == "did",
            "unit": unit,
            "below_mid": mid is not None,
            "mid": mid,
        }
        assert summary.effect_sentences(**wording) == {
            language: summary.effect_sentence(language=language, **wording)
            for language in summary.LOCALES
        }
