"""The three checks give the verdicts they should on models whose behaviour is known."""

import json

import pytest
import torch

from pytest_stability.checks import CheckResult, sample_sweep, structural, worst_case
from pytest_stability.families import mri_family
from pytest_stability.masks import variable_density_mask
from pytest_stability.operators import SingleCoilMRI
from pytest_stability.phantoms import random_ellipses, shepp_logan

H = 48


@pytest.fixture(scope="module")
def mri():
    return SingleCoilMRI(variable_density_mask((H, H), 0.33, seed=0))


@pytest.fixture(scope="module")
def images():
    return torch.cat([shepp_logan(H), random_ellipses(1, H, seed=2)])


class Planted(torch.nn.Module):
    """Zero-filling plus a planted gain G along one direction u of range(A*): worst-case ratio exactly G."""

    def __init__(self, op, gain):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        u = op.adjoint(op.project(torch.randn(1, 1, H, H, dtype=torch.complex64, generator=gen))).real
        self.register_buffer("u", u / u.norm())
        self.op, self.gain = op, gain

    def forward(self, y):
        z = self.op.adjoint(y).real
        return z + (self.gain - 1) * (self.u * z).sum(dim=(1, 2, 3), keepdim=True) * self.u


def test_worst_case_fails_a_planted_instability_against_the_tv_baseline(mri, images):
    results = worst_case(Planted(mri, 20.0), images, mri, inputs="y", eps=(0.005, 0.02), steps=20,
                         baseline_factor=3.0, persistence_levels=(0.25,))
    assert [r.check for r in results] == ["worst_case", "worst_case"]
    for r in results:
        assert not r.passed
        # the search stops once the verdict is decided: the ratio passed the limit, and no true bound is crossed
        assert r.numbers["limit"] < r.numbers["ratio"] <= 20.0 * (1 + 1e-4)
        assert r.numbers["stopped_early"] is True
        assert 0 < r.numbers["baseline_ratio"] < 20.0 / 3  # TV's own worst case is far smaller
        assert r.numbers["limit"] == pytest.approx(3.0 * r.numbers["baseline_ratio"])
        assert r.numbers["baseline_attacked"] is True
        assert "κ = " in r.explanation and ">" in r.explanation and "TV" in r.explanation
        assert r.tensors["perturbation"].shape == (1, 1, H, H)


def test_worst_case_passes_zero_filling_and_the_tv_baseline_run_as_a_model(mri, images):
    zero_filled = worst_case(lambda z: z.real, images, mri, eps=0.02, steps=15, max_ratio=1.0 + 1e-4,
                             baseline=None)[0]
    assert zero_filled.passed and zero_filled.numbers["ratio"] <= 1.0 + 1e-4
    from pytest_stability.baselines import TVReconstruction

    attacked = TVReconstruction(mri, differentiable=True, max_iter=100)
    tv = worst_case(attacked, images, mri, inputs="y", eps=0.02, steps=10, baseline_factor=2.0,
                    attack_baseline=False)[0]
    # TV (100 iterations) attacked, judged against TV (converged) on the same r: the same method, far below 2×
    assert tv.passed and tv.numbers["ratio"] < 1.5 * tv.numbers["baseline_ratio_same_perturbation"]


@pytest.mark.parametrize("domain", ["image", "measurement"])
def test_one_search_keeps_the_growing_perturbations_of_the_papers_fig_1(mri, images, domain, tmp_path):
    eps = (0.005, 0.01, 0.02)
    results = worst_case(Planted(mri, 5.0), images, mri, inputs="y", eps=eps, domain=domain, steps=8,
                         max_ratio=100.0, baseline=None, noise_draws=0, persistence_levels=())
    assert all("growing_inputs" not in r.tensors for r in results[:-1])
    grown = results[-1].tensors
    assert grown["growing_eps"].tolist() == pytest.approx(eps)
    assert grown["growing_inputs"].shape == grown["growing_reconstructions"].shape[:1] + (1, H, H)
    assert grown["growing_reconstructions"].shape[0] == 3
    b = results[-1].numbers["image"]
    sizes = (grown["growing_inputs"] - images[b:b + 1]).flatten(1).norm(dim=1)
    assert bool((sizes[1:] > sizes[:-1]).all())  # r1 < r2 < r3

    from pytest_stability.report.html import write_html

    torch.save({k: v.detach().cpu() for k, v in results[-1].tensors.items() if k != "all_perturbations"},
               tmp_path / "item.pt")
    record = {"nodeid": "t.py::test[worst_case-eps=0.02]", **results[-1].to_dict(), "tensors_file": "item.pt"}
    page = write_html(tmp_path, {"version": 1, "environment": {}, "results": [record]}).read_text()
    assert "x + r3 (eps 0.02)" in page and "f(A(x + r1))" in page


def test_measurement_domain_worst_case(mri, images):
    r = worst_case(Planted(mri, 10.0), images, mri, inputs="y", eps=0.02, domain="measurement", steps=15,
                   max_ratio=5.0, baseline=None)[0]
    assert not r.passed and r.numbers["domain"] == "measurement"
    assert "‖e‖/‖y‖" in r.explanation


def test_structural_recovery_of_an_exact_and_a_blind_model(images):
    full = SingleCoilMRI(torch.ones(H, H, dtype=torch.bool))
    exact = structural(lambda z: z.real, images, full, details=("heart", "text", "lesion"), min_recovery=0.9,
                       baseline=None)
    assert [r.numbers["detail"] for r in exact] == ["heart", "text", "lesion"]
    for r in exact:
        assert r.passed and r.numbers["recovery"] == pytest.approx(1.0, abs=1e-5)
        assert r.numbers["box_psnr"] > 60
    fixed = images[:1].clone()
    blind = structural(lambda z: fixed.expand(z.shape[0], -1, -1, -1), images, full, details="spade",
                       baseline="tv")[0]
    assert not blind.passed
    assert blind.numbers["recovery"] == pytest.approx(0.0, abs=1e-6)
    assert blind.numbers["baseline_recovery"] > 0.9
    assert "lost" in blind.explanation and "keeps" in blind.explanation


def test_structural_does_not_blame_the_network_when_the_baseline_loses_the_detail_too(images):
    sparse = SingleCoilMRI(variable_density_mask((H, H), 0.02, seed=0))  # far too few samples for anyone
    r = structural(lambda z: torch.zeros_like(z.real), images, sparse, details="diamond", baseline="tv")[0]
    assert r.numbers["recovery"] == pytest.approx(0.0, abs=1e-6)
    assert r.numbers["baseline_recovery"] < 0.3  # TV cannot resolve it either
    assert r.passed and "not blamed" in r.explanation
    far_below = structural(lambda z: torch.zeros_like(z.real), images, sparse, details="diamond", baseline="tv",
                           recovery_margin=0.05)[0]
    assert not far_below.passed  # unless the network is more than recovery_margin below the baseline


class Degrading(torch.nn.Module):
    """Zero-filling plus an artefact that grows with the sampling ratio: PSNR falls with more samples."""

    def forward(self, y, mask):
        return SingleCoilMRI(mask[0, 0].bool()).adjoint(y).real + 2.0 * mask.mean()


def test_sample_sweep_flags_a_model_that_gets_worse_with_more_samples(images):
    family = mri_family((H, H), pattern="variable-density", seed=0)
    r = sample_sweep(Degrading(), images, family, (0.1, 0.2, 0.4, 0.6), inputs="y,mask", baseline=None)
    assert not r.passed and "falls" in r.explanation
    assert r.numbers["worst_drop_db"] > 0.5
    assert r.numbers["ratios"] == pytest.approx([0.1, 0.2, 0.4, 0.6], abs=1e-3)


def test_sample_sweep_passes_the_tv_baseline_and_flags_stagnation(images):
    from pytest_stability.baselines import TVReconstruction

    family = mri_family((H, H), pattern="cartesian", seed=0)
    ratios = (0.2, 0.3, 0.5)
    tv_as_model = sample_sweep(TVReconstruction(family(0.2)), images, family, ratios, inputs="y", baseline="tv",
                               min_gain_db=1.0)
    assert tv_as_model.passed and tv_as_model.numbers["gain_db"] > 1.0
    still = images[:1].clone() * 0.9
    stuck = sample_sweep(lambda z: still.expand(z.shape[0], -1, -1, -1), images, family, ratios, min_gain_db=1.0)
    assert not stuck.passed and "stagnates" in stuck.explanation


def test_results_serialise_to_json(mri, images):
    results = [*worst_case(lambda z: z.real, images, mri, eps=0.02, steps=3, max_ratio=2.0, baseline=None),
               *structural(lambda z: z.real, images, mri, details="lesion", baseline=None),
               sample_sweep(lambda z: z.real, images, mri_family((H, H)), (0.2, 0.4), baseline=None)]
    for r in results:
        assert isinstance(r, CheckResult)
        record = json.loads(json.dumps(r.to_dict()))
        assert record["check"] in ("worst_case", "structure", "samples") and isinstance(record["passed"], bool)
    assert {"ratio", "baseline_ratio", "eps", "relative_perturbation"} <= set(results[0].to_dict())
    assert {"detail", "recovery", "baseline_recovery"} <= set(results[1].to_dict())
    assert {"ratios", "psnr", "baseline_psnr"} <= set(results[2].to_dict())


@pytest.mark.parametrize(("call", "match"), [
    (lambda m, x: worst_case(lambda z: z, x, m, baseline=None), "no verdict criterion"),
    (lambda m, x: worst_case(lambda z: z, x, m, max_ratio=-1), "max_ratio"),
    (lambda m, x: worst_case(lambda z: z, x, m, domain="k"), "domain"),
    (lambda m, x: structural(lambda z: z, x, m, min_recovery=2), "min_recovery"),
    (lambda m, x: structural(lambda z: z, x, m, details="joker"), "joker"),
    (lambda m, x: sample_sweep(lambda z: z, x, mri_family((H, H)), (0.3, 0.2)), "increasing"),
    (lambda m, x: sample_sweep(lambda z: z, x, mri_family((H, H)), (0.3, 1.2)), r"\(0, 1\]"),
    (lambda m, x: sample_sweep(lambda z: z, x, mri_family((H, H)), (0.3,)), "at least two"),
    (lambda m, x: worst_case(lambda z: z, x, m, baseline="l1-magic"), "baseline"),
])
def test_bad_arguments(mri, images, call, match):
    with pytest.raises(ValueError, match=match):
        call(mri, images)


def test_worst_case_in_the_papers_faithful_mode_judges_every_snapshot(mri, images):
    from pytest_stability.search import PerturbationSearch

    search = PerturbationSearch(mode="faithful", schedule=(3, 3), stab_eta=0.5, stab_lambda=0.01, stab_tau=1e-3)
    results = worst_case(Planted(mri, 20.0), images, mri, inputs="y", search=search, baseline_steps=3,
                         noise_draws=0, persistence_levels=())
    assert len(results) == 2  # one verdict per snapshot r1 < r2
    assert results[0].numbers["relative_perturbation"] < results[1].numbers["relative_perturbation"]
    assert all(r.numbers["baseline_attacked"] and r.numbers["limit"] < 20 for r in results)
