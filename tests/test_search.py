"""The perturbation search finds what is there: planted worst cases, known bounds, budgets, model integrity."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from pytest_stability.metrics import l2_norm
from pytest_stability.models import ModelError, Reconstructor, StabilityWarning, frozen
from pytest_stability.operators import SingleCoilMRI
from pytest_stability.phantoms import random_ellipses
from pytest_stability.search import PerturbationMap, PerturbationSearch
from pytest_stability.search.controls import noise_control, persistence_curve

H = 32
GAIN = 7.0


@pytest.fixture(scope="module")
def mri():
    gen = torch.Generator().manual_seed(0)
    return SingleCoilMRI(torch.rand(H, H, generator=gen) < 0.35)


@pytest.fixture(scope="module")
def images():
    return random_ellipses(2, H, seed=1).to(torch.complex64)


class Planted(torch.nn.Module):
    """f(y) = A*y + (G − 1)⟨A*y, u⟩u with a unit u in range(A*): its worst case is exactly G, along u."""

    def __init__(self, op, gain=GAIN, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        u = op.adjoint(op.project(torch.randn(1, 1, H, H, dtype=torch.complex64, generator=gen)))
        self.register_buffer("u", u / u.norm())
        self.op, self.gain = op, gain

    def forward(self, y):
        z = self.op.adjoint(y)
        return z + (self.gain - 1) * (self.u.conj() * z).sum(dim=(1, 2, 3), keepdim=True) * self.u


@pytest.mark.parametrize("domain", ["image", "measurement"])
@pytest.mark.parametrize("power_iterations", [10, 0])
def test_search_finds_a_planted_gain_within_five_percent(mri, images, domain, power_iterations):
    f = Reconstructor(Planted(mri), mri, inputs="y")
    res = PerturbationSearch(eps=(0.01, 0.05), domain=domain, steps=200, power_iterations=power_iterations).run(
        f, images)
    assert res.ratio.shape == (2, 2)
    assert float(res.ratio.min()) == pytest.approx(GAIN, rel=0.05)
    assert float(res.ratio.max()) <= GAIN * (1 + 1e-4)  # a ratio above the true worst case would be a bug
    # the budget: ‖r‖ ≤ eps·‖x‖ (‖e‖ ≤ eps·‖y‖)
    assert bool((res.relative_perturbation <= torch.tensor([[0.01], [0.05]]) * (1 + 1e-5)).all())
    if power_iterations:
        torch.testing.assert_close(res.sigma1, torch.full((2,), GAIN), rtol=1e-3, atol=0)


def test_the_jacobian_start_needs_far_fewer_evaluations(mri, images):
    f = Reconstructor(Planted(mri), mri, inputs="y")
    with_start = PerturbationSearch(eps=0.02, steps=60, power_iterations=10).run(f, images)
    from_noise = PerturbationSearch(eps=0.02, steps=60, power_iterations=0, patience=60).run(f, images)
    step = lambda res: int((res.history[0, 0] >= 0.99 * GAIN).nonzero()[0])  # noqa: E731
    assert step(with_start) == 0
    assert step(from_noise) > 0


def test_measurement_domain_perturbations_stay_in_the_measurement_space(mri, images):
    f = Reconstructor(Planted(mri), mri, inputs="y")
    res = PerturbationSearch(eps=0.02, domain="measurement", steps=10).run(f, images)
    e = res.perturbations[0]
    torch.testing.assert_close(mri.project(e), e)


def test_zero_filling_never_exceeds_its_bound(mri, images):
    """A*A with A A* = I is an orthogonal projection: κ ≤ 1 in both domains."""
    f = Reconstructor(torch.nn.Identity(), mri, inputs="naive")
    for domain in ("image", "measurement"):
        res = PerturbationSearch(eps=(0.01, 0.1), domain=domain, steps=30).run(f, images)
        assert float(res.ratio.max()) <= 1 + 1e-5
        assert float(res.ratio.min()) == pytest.approx(1.0, abs=1e-3)  # and the search reaches it


def test_real_images_get_real_perturbations(mri):
    x = random_ellipses(1, H, seed=3)
    res = PerturbationSearch(eps=0.02, steps=5).run(Reconstructor(torch.nn.Identity(), mri), x)
    assert res.perturbations.dtype == torch.float32


def test_early_stop_once_the_verdict_is_decided(mri, images):
    f = Reconstructor(Planted(mri), mri, inputs="y")
    full = PerturbationSearch(eps=0.02, steps=50, patience=50).run(f, images)
    decided = PerturbationSearch(eps=0.02, steps=50, patience=50, stop_ratio=2.0).run(f, images)
    assert float(decided.ratio.min()) > 2.0
    assert decided.evaluations["forward"] < full.evaluations["forward"] / 3


class MaskedMagnitude(torch.nn.Module):
    """sqrt(z²) of z = m · Re A* y with a fixed window m: finite everywhere, but not differentiable outside the window,
    where z is exactly 0 (the derivative of sqrt at 0 is ∞ and 0 · ∞ is NaN), as a root-sum-of-squares image is not
    at its exact zeros."""

    def __init__(self, op):
        super().__init__()
        self.op = op
        self.register_buffer("window", torch.zeros(1, 1, H, H))
        self.window[..., 4:-4, 4:-4] = 1.0

    def forward(self, y):
        z = self.window * self.op.adjoint(y).real
        return (z ** 2).sqrt()


@pytest.mark.parametrize("power_iterations", [10, 0])
def test_a_model_with_nan_gradients_at_finite_outputs_is_refused_with_the_fix(mri, images, power_iterations):
    with pytest.raises(ModelError, match=r"NaN or Inf for 2 of 2 inputs whose outputs are finite.*sqrt\(s \+ "):
        PerturbationSearch(eps=0.02, steps=3, power_iterations=power_iterations).run(
            Reconstructor(MaskedMagnitude(mri), mri, inputs="y"), images.real)


def test_restarts_and_several_eps_run_in_one_batch(mri, images):
    f = Reconstructor(Planted(mri), mri, inputs="y")
    res = PerturbationSearch(eps=(0.01, 0.02, 0.04), steps=5, restarts=2, power_iterations=0,
                             patience=10).run(f, images)
    assert res.ratio.shape == (3, 2)
    # the reference f(Ax), then every step is one batched forward for images × eps × restarts
    assert res.evaluations["forward"] == 1 + 5
    assert res.evaluations["forward_images"] == 2 + 5 * 2 * 3 * 2
    assert res.evaluations["backward"] == 4  # no gradient is needed after the last step


def test_controls_on_a_linear_planted_model(mri, images):
    """Noise of the worst case's norm is far less amplified; added noise of ‖r‖/4 cannot undo a linear gain."""
    f = Reconstructor(Planted(mri), mri, inputs="y")
    search = PerturbationSearch(eps=0.02, steps=20)
    res = search.run(f, images)
    pm = PerturbationMap(f, images, "image")
    assert float(noise_control(pm, res, draws=4).max()) < GAIN / 3
    curve = persistence_curve(pm, res, torch.tensor([1]))
    # a linear gain keeps every artefact: the first round of 36 draws settles each level at 100 %, [0.90, 1]
    assert curve.kept.tolist() == curve.draws.tolist() == [[36, 36, 36]]
    assert [c["ci"][0] for c in curve.entries(0)] == pytest.approx([0.904] * 3, abs=1e-3)


def test_faithful_mode_keeps_growing_snapshots(mri, images):
    f = Reconstructor(Planted(mri), mri, inputs="y")
    res = PerturbationSearch(mode="faithful", schedule=(5, 5, 5), stab_eta=0.5, stab_lambda=0.01,
                             stab_tau=1e-3).run(f, images)
    norms = res.perturbation_norm
    assert norms.shape == (3, 2)
    assert bool((norms[1:] > norms[:-1]).all())  # r1 < r2 < r3, the paper's Fig. 1 family
    assert res.evaluations["backward"] == 10 + 15  # σ̂'s power iterations, then one per step
    assert float(res.ratio[-1].min()) > 0.9 * GAIN


class Gain(torch.nn.Module):
    """f(y) = g · Re(A*y): with every sample taken (A*A = I) f(A(x + r)) − f(Ax) = g·r, so J = g·I and σ̂ = g."""

    def __init__(self, op, gain):
        super().__init__()
        self.op, self.gain = op, gain

    def forward(self, y):
        return self.gain * self.op.adjoint(y).real


FULL = SingleCoilMRI(torch.ones(H, H, dtype=torch.bool))


def faithful_snapshots(x, gain=3.0, **kwargs):
    settings = {"schedule": (1, 1, 1), "stab_eta": 0.1, "stab_lambda": 0.5, "stab_gamma": 0.9, "stab_tau": 1e-2,
                **kwargs}
    return PerturbationSearch(mode="faithful", **settings).run(Reconstructor(Gain(FULL, gain), FULL, inputs="y"), x)


def test_the_faithful_update_is_the_papers_heavy_ball_step_on_the_scaled_objective():
    """By hand: Q(r) = ½‖g r‖²/g² − (λ/2)‖r‖² = ½(1 − λ)‖r‖², ∇Q = c·r with c = η(1 − λ) = 0.05. From r0:
    v1 = c·r0, r1 = 1.05 r0; v2 = μ·v1 + c·r1 = 0.0975 r0, r2 = 1.1475 r0; v3 = 0.145125 r0, r3 = 1.292625 r0."""
    x = random_ellipses(2, H, seed=1)
    res = faithful_snapshots(x)
    r1, r2, r3 = res.perturbations
    close = {"rtol": 1e-5, "atol": 1e-4 * float(r1.abs().max())}  # float32: Δf = g·(A*A(x + r) − A*Ax) cancels
    torch.testing.assert_close(r2, r1 * (1.1475 / 1.05), **close)
    torch.testing.assert_close(r3, r1 * (1.292625 / 1.05), **close)
    # r0 = τ · rms(x) · U[0, 1): non-negative, of mean τ · rms / 2 (here 1.05 times that after one step)
    rms = l2_norm(x) / H
    assert bool((r1 >= 0).all())
    torch.testing.assert_close(r1.mean(dim=(1, 2, 3)), 1.05 * 1e-2 * rms / 2, rtol=0.05, atol=0)
    torch.testing.assert_close(res.ratio, torch.full((3, 2), 3.0), rtol=1e-5, atol=0)  # κ = g along any r
    torch.testing.assert_close(res.sigma1, torch.full((2,), 3.0), rtol=1e-5, atol=0)  # σ̂ = g, reported


def test_the_faithful_search_means_the_same_for_any_gain_intensity_and_batch():
    x = random_ellipses(2, H, seed=1)
    base = faithful_snapshots(x)
    for other in (faithful_snapshots(x, gain=50.0), faithful_snapshots(10 * x)):
        torch.testing.assert_close(other.relative_perturbation, base.relative_perturbation, rtol=1e-5, atol=0)
    alone = faithful_snapshots(x[:1])  # an image's start and steps do not depend on the rest of the batch
    torch.testing.assert_close(alone.perturbations[:, 0], base.perturbations[:, 0], rtol=1e-5,
                               atol=1e-4 * float(base.perturbations.abs().max()))


def test_the_faithful_stop_rules_hold_each_image_where_it_crossed():
    """Every image grows by the same factors here (the objective is scaled per image), so a bound between the two
    images' ‖r2‖ stops the larger after two steps and lets the smaller take one more."""
    x = random_ellipses(2, H, seed=1)
    free = faithful_snapshots(x, schedule=(1, 1, 1, 1))
    rel = free.relative_perturbation[1]
    big, small = int(rel.argmax()), int(rel.argmin())
    stopped = faithful_snapshots(x, schedule=(1, 1, 1, 1), max_r_norm=float(rel.mean()))
    s, f = stopped.perturbations, free.perturbations
    torch.testing.assert_close(s[:, big], f[[0, 1, 1, 1], big])  # stops on seeing ‖r2‖ ≥ bound: keeps r2
    torch.testing.assert_close(s[:, small], f[[0, 1, 2, 2], small])  # r2 below the bound, r3 above it
    held = faithful_snapshots(x, schedule=(1, 1), max_diff_norm=1e-12)  # ‖Δf‖ of r0 already crosses: r stays r0
    torch.testing.assert_close(held.perturbations, (f[0] / 1.05).expand(2, -1, -1, -1, -1), rtol=1e-5,
                               atol=1e-4 * float(f.abs().max()))


class Detaching(torch.nn.Module):
    def forward(self, z):
        return z.detach() * 2


@pytest.mark.parametrize("mode", ["corrected", "faithful"])
def test_a_search_logs_its_progress_at_info(mri, images, caplog, mode):
    """The pytest_stability logger says the start, the step, the best κ so far, the evaluations and the end
    (log_every=0: a line every step); nothing at WARNING."""
    f = Reconstructor(Planted(mri), mri, inputs="y")
    settings = {"schedule": (3, 3)} if mode == "faithful" else {"eps": (0.01, 0.05), "steps": 6, "patience": 100}
    with caplog.at_level("INFO", logger="pytest_stability"):
        PerturbationSearch(mode=mode, log_every=0.0, **settings).run(f, images)
    lines = [r.getMessage() for r in caplog.records if r.name == "pytest_stability"]
    assert lines[0].startswith(f"worst-case search of 'Planted' ({mode}): 2 image(s)")
    steps = [line for line in lines if ": step " in line]
    assert len(steps) == 6 and steps[0].startswith("worst-case search of 'Planted': step 1/6, best κ ")
    assert "forward and" in steps[-1] and "backward passes" in steps[-1]
    if mode == "corrected":
        assert "(eps 0.01), " in steps[-1] and "(eps 0.05)" in steps[-1]
    assert lines[-1].startswith("worst-case search of 'Planted' done after 6 steps in ")
    caplog.clear()
    with caplog.at_level("WARNING", logger="pytest_stability"):
        PerturbationSearch(mode=mode, log_every=0.0, **settings).run(f, images)
    assert not caplog.records


def test_a_model_without_gradients_gets_a_gradient_free_search_with_a_warning(mri, images):
    f = Reconstructor(Detaching(), mri)  # 2·A*y: κ = 2‖A*A r‖/‖r‖ ≤ 2, about 2·sqrt(ratio) ≈ 1.2 at random
    with pytest.warns(StabilityWarning, match="weaker lower bound"):
        res = PerturbationSearch(eps=0.02, steps=20, spsa_directions=8).run(f, images)
    assert res.gradient_free and res.mode == "gradient-free" and res.evaluations["backward"] == 0
    assert bool((res.ratio <= 2 + 1e-4).all())
    assert bool((res.history[..., -1] > res.history[..., 0] * 1.05).all())  # the estimates do climb


def test_numpy_models_are_searched_gradient_free(mri):
    x = random_ellipses(1, H, seed=2)
    f = Reconstructor(lambda z: np.abs(z), mri, numpy=True, name="numpy-abs")
    with pytest.warns(StabilityWarning):
        res = PerturbationSearch(eps=0.02, steps=4, spsa_directions=2).run(f, x)
    assert 0 < float(res.ratio[0, 0]) <= 1 + 1e-4


class Stateful(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 2, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(2)
        self.drop = torch.nn.Dropout(0.5)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, z):
        self.calls += 1  # a buffer the forward pass writes
        return self.drop(self.bn(self.conv(z)))


def test_the_model_comes_back_bitwise_unchanged(mri, images):
    model = Stateful().train()
    model.conv.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    f = Reconstructor(model, mri, complex_as_channels=True)
    res = PerturbationSearch(eps=0.02, steps=5).run(f, images)
    assert torch.isfinite(res.ratio).all()
    assert model.training and model.bn.training and model.drop.training
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())


def test_frozen_restores_even_when_the_body_raises():
    model = Stateful().train()
    with pytest.raises(RuntimeError), frozen(model):
        assert not model.training
        raise RuntimeError
    assert model.training and model.conv.weight.requires_grad


def test_a_model_that_returns_nan_on_perturbed_input_is_flagged(mri, images):
    class Fragile(torch.nn.Module):
        def forward(self, z):
            return torch.where((z - self.clean).abs().amax() > 1e-3, torch.full_like(z, float("nan")), z)

    model = Fragile()
    with torch.no_grad():
        model.clean = mri.adjoint(mri(images))
    res = PerturbationSearch(eps=0.02, steps=5).run(Reconstructor(model, mri), images)
    assert bool(res.nonfinite.all()) and bool(torch.isinf(res.ratio).all())


@pytest.mark.parametrize(("model", "match"), [
    (lambda z: z * float("nan"), "NaN or Inf on the unperturbed input"),
    (lambda z: (z, z), "returned a tuple"),
    (lambda z: z[..., :5], "returned shape"),
    (lambda z: 1 / 0, "raised ZeroDivisionError"),
])
def test_misbehaving_models_get_clear_errors(mri, images, model, match):
    with pytest.raises(ModelError, match=match):
        PerturbationSearch(eps=0.02, steps=2).run(Reconstructor(model, mri), images)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"eps": 0.0}, "positive"), ({"eps": (0.02, 0.01)}, "increasing"), ({"mode": "pgd"}, "mode"),
    ({"domain": "kspace"}, "domain"), ({"steps": 0}, "steps"),
])
def test_bad_search_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PerturbationSearch(**kwargs)


def test_bad_images(mri):
    f = Reconstructor(torch.nn.Identity(), mri)
    with pytest.raises(ValueError, match="channels-last"):
        PerturbationSearch(steps=1).run(f, torch.zeros(1, H, H, 1))
    with pytest.raises(ValueError, match="= 0"):
        PerturbationSearch(steps=1).run(f, torch.zeros(1, 1, H, H))
    with pytest.raises(ValueError, match="NaN"):
        PerturbationSearch(steps=1).run(f, torch.full((1, 1, H, H), float("nan")))


def test_same_seed_same_numbers_in_a_fresh_process(tmp_path):
    script = textwrap.dedent("""
        import torch
        from pytest_stability.operators import SingleCoilMRI
        from pytest_stability.phantoms import random_ellipses
        from pytest_stability.search import PerturbationSearch
        torch.manual_seed(123)  # the search must not depend on the global RNG
        gen = torch.Generator().manual_seed(0)
        op = SingleCoilMRI(torch.rand(24, 24, generator=gen) < 0.4)
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.Tanh(),
                                  torch.nn.Conv2d(8, 1, 3, padding=1))
        for p, v in zip(net.parameters(), torch.linspace(-0.3, 0.3, 4)):
            torch.nn.init.constant_(p, float(v)) if p.dim() == 1 else torch.nn.init.orthogonal_(p, generator=gen)
        model = lambda z: net(z.real)
        res = PerturbationSearch(eps=(0.01, 0.03), steps=15, seed=7).run(model, random_ellipses(2, 24), op)
        print(repr(res.ratio.tolist()))
    """)
    path = tmp_path / "run.py"
    path.write_text(script)
    runs = [subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    a, b = (torch.tensor(eval(r)) for r in runs)
    torch.testing.assert_close(a, b, rtol=1e-6, atol=0)
    assert float(l2_norm(a.view(1, -1))) > 0
