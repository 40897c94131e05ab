"""The shared verdict rules, on numbers worked out by hand (checks/rules.py)."""

import math

import torch

from pytest_stability.checks.rules import detail_lost, kappa_limit


def test_the_kappa_limit_is_the_smaller_of_the_absolute_limit_and_the_scaled_baseline():
    like = torch.zeros(3, dtype=torch.float64)
    baseline = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    assert kappa_limit(like, 3.0, 2.0, baseline).tolist() == [2.0, 3.0, 3.0]
    assert kappa_limit(like, None, 2.0, baseline).tolist() == [2.0, 4.0, 8.0]
    assert kappa_limit(like, 3.0, None, baseline).tolist() == [3.0, 3.0, 3.0]  # no factor: the baseline is unused
    assert kappa_limit(like, None, None, None).tolist() == [math.inf] * 3
    assert kappa_limit(torch.zeros(2), 3.0, None, None).dtype == torch.float32


def test_a_detail_is_lost_below_min_recovery_only_where_the_baseline_keeps_it():
    rho = torch.tensor([0.2, 0.2, 0.6, 0.9])
    rho_g = torch.tensor([0.8, 0.3, 0.95, 0.9])
    lost, limits = detail_lost(rho, rho_g, 0.5, 0.3)
    # 1: baseline keeps it (0.8 ≥ 0.5), ρ 0.2 < 0.5; 2: both lose it, ρ within 0.3 of ρ_g; 3: ρ 0.6 ≥ 0.5 but more
    # than 0.3 below ρ_g 0.95; 4: kept
    assert lost.tolist() == [True, False, True, False]
    torch.testing.assert_close(limits, torch.tensor([0.5, 0.0, 0.65, 0.6]))
    lost, limits = detail_lost(rho, None, 0.5, 0.3)
    assert lost.tolist() == [True, True, False, False] and limits.tolist() == [0.5] * 4
