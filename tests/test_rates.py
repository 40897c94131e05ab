"""The Wilson interval against scipy's, and the draws that bound its width."""

import pytest
import torch
from scipy.stats import binomtest

from pytest_stability.rates import DRAWS_FOR_WIDTH, rate_numbers, wilson, wilson_width


@pytest.mark.parametrize(("k", "n"), [(0, 8), (1, 10), (8, 8), (37, 100), (190, 381), (0, 35)])
def test_wilson_matches_scipy(k, n):
    lo, hi = wilson(k, n)
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert float(lo) == pytest.approx(expected.low, abs=1e-9)
    assert float(hi) == pytest.approx(expected.high, abs=1e-9)


def test_wilson_is_elementwise():
    k, n = torch.tensor([[0, 5], [9, 10]]), torch.tensor([[10, 10], [10, 10]])
    lo, hi = wilson(k, n)
    assert lo.shape == hi.shape == (2, 2)
    assert float(lo[0, 0]) == pytest.approx(0.0, abs=1e-12) and float(hi[1, 1]) < 1.0
    for i, j in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        one = wilson(int(k[i, j]), int(n[i, j]))
        assert (float(one[0]), float(one[1])) == pytest.approx((float(lo[i, j]), float(hi[i, j])))


def test_draws_for_width_bound_every_rate_and_fewer_do_not():
    ks = torch.arange(DRAWS_FOR_WIDTH + 1)
    assert float(wilson_width(ks, DRAWS_FOR_WIDTH).max()) <= 0.1
    fewer = DRAWS_FOR_WIDTH - 1
    assert float(wilson_width(torch.arange(fewer + 1), fewer).max()) > 0.1
    # with no failure, 35 draws already give an interval [0, < 0.1]; 34 do not
    assert float(wilson(0, 35)[1]) <= 0.1 < float(wilson(0, 34)[1])


def test_rate_numbers_and_bad_counts():
    assert rate_numbers(0, 0) == (None, None)
    rate, ci = rate_numbers(3, 12)
    assert rate == 0.25 and ci[0] < 0.25 < ci[1]
    with pytest.raises(ValueError, match="draws >= 1"):
        wilson(1, 0)
    with pytest.raises(ValueError, match="successes <= draws"):
        wilson(5, 4)
