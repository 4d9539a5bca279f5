"""The library calls written out for speed give the library's numbers, to the last bit.

`newcombe_interval` and `score_test_p` replace statsmodels' two-proportion interval
and test, and `mean_and_variance` replaces `np.mean` and `np.var(ddof=1)`. Each must
give exactly what it replaces, so that stored results do not change with the speed-up.
(`effect_sentence` is now `effect_sentences` for one language; the sentences' texts are
held by tests/stats/test_judgement.py.)
"""

import numpy as np
import pytest
from statsmodels.stats import proportion

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
