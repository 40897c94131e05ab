"""The compressed-sensing baselines: TV (Chambolle–Pock) and wavelet-l1 (FISTA) reconstructions.

PSNR here is computed inline as 10 log10(max|x|² / mean(|x̂| − |x|)²) (magnitudes, ground-truth peak).
Measured numbers (2-core CPU, torch 2.14) are in the test docstrings; the thresholds leave margin.
"""

from __future__ import annotations

import time

import pytest
import torch

from pytest_stability.baselines import (
    SolverState,
    TVReconstruction,
    WaveletReconstruction,
    chambolle_pock,
    fista,
    primal_dual_steps,
)
from pytest_stability.baselines.prox import (
    clip_magnitude,
    gradient,
    gradient_adjoint,
    project_l2inf_ball,
    shrink_l2,
    soft_threshold,
    total_variation,
)
from pytest_stability.masks import variable_density_mask
from pytest_stability.operators import ParallelBeamRadon, SingleCoilMRI
from pytest_stability.phantoms import random_ellipses, shepp_logan


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Solves on small images are sequential work: on a shared 2-core machine two intra-op threads
    contending with other processes made them up to 100× slower (measured), so these tests use one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    return float(10 * torch.log10(x.abs().max() ** 2 / ((x_hat.abs() - x.abs()) ** 2).mean()))


@pytest.fixture(scope="module")
def mri_256() -> tuple[SingleCoilMRI, torch.Tensor, torch.Tensor]:
    x = shepp_logan(256)
    operator = SingleCoilMRI(variable_density_mask((256, 256), 0.33, seed=0))
    return operator, x, operator(x)


@pytest.fixture(scope="module")
def mri_64() -> tuple[SingleCoilMRI, torch.Tensor, torch.Tensor]:
    x = torch.cat([shepp_logan(64), random_ellipses(1, 64, seed=5)])
    operator = SingleCoilMRI(variable_density_mask((64, 64), 0.33, seed=1))
    return operator, x, operator(x)


# -- headline reconstructions ----------------------------------------------------------------------
def test_tv_recovers_shepp_logan_from_33_percent(mri_256) -> None:
    """Noiseless 256² Shepp–Logan, 33 % variable density: measured 48.7 dB in 154 iterations, 0.13–0.3 s."""
    operator, x, y = mri_256
    model = TVReconstruction(operator, tol=1e-3)
    start = time.perf_counter()
    x_hat = model(y)
    elapsed = time.perf_counter() - start
    value = psnr(x_hat, x)
    print(f"TV MRI 33 %: {value:.2f} dB (zero-filled {psnr(operator.naive(y), x):.2f} dB), "
          f"{int(model.iterations[0])} iterations, {elapsed:.2f} s")
    assert value >= 30.0
    assert x_hat.shape == x.shape and x_hat.dtype == torch.complex64
    assert bool(model.converged.all()) and float(model.relative_change[0]) < 1e-3


def test_tv_recovers_a_piecewise_constant_image_almost_exactly() -> None:
    """128² rectangles and a disc, 25 % variable density, noiseless, constrained form Ax = y (η = 0).

    Measured: relative error 8e-5 (89 dB) after ~2700 iterations, 0.9 s; float32 bounds it near 1e-5.
    """
    size = 128
    x = torch.zeros(1, 1, size, size)
    x[..., 16:64, 16:64] = 1.0
    x[..., 64:112, 32:96] = 0.5
    rows, cols = torch.arange(size).view(-1, 1), torch.arange(size).view(1, -1)
    x[0, 0][(rows - 90) ** 2 + (cols - 38) ** 2 < 16**2] = 0.8
    operator = SingleCoilMRI(variable_density_mask((size, size), 0.25, seed=1))
    model = TVReconstruction(operator, eta=0.0, tol=1e-6, max_iter=5000)
    x_hat = model(operator(x))
    relative_error = float((x_hat - x).abs().norm() / x.norm())
    print(f"piecewise constant, 25 %: relative error {relative_error:.2e}, PSNR {psnr(x_hat, x):.1f} dB, "
          f"{int(model.iterations[0])} iterations")
    assert relative_error < 1e-3


def test_tv_beats_fbp_on_50_view_ct() -> None:
    """256² Shepp–Logan, 50 views, noiseless: measured TV 38.7 dB vs FBP 22.1 dB (227 iterations, 0.5 s)."""
    x = shepp_logan(256)
    operator = ParallelBeamRadon(256, 50)
    y = operator(x)
    model = TVReconstruction(operator)
    x_hat = model(y)
    tv, fbp = psnr(x_hat, x), psnr(operator.naive(y), x)
    print(f"CT 50 views: TV {tv:.2f} dB, FBP {fbp:.2f} dB, {int(model.iterations[0])} iterations")
    assert x_hat.dtype == torch.float32  # the Radon domain is real
    assert tv >= fbp + 5.0


def test_wavelet_fista_converges_and_beats_zero_filling(mri_256) -> None:
    """db4, 4 levels, λ = 1e-3·max|A*y|: the objective falls along the iterations; measured 34.8 dB vs 24.1 dB."""
    operator, x, y = mri_256
    model = WaveletReconstruction(operator)
    weights = model.transform.detail_weights(operator.image_shape)
    lam = 1e-3 * float(operator.adjoint(y).abs().max())
    objectives: dict[int, float] = {}

    def record(k: int, x_k: torch.Tensor) -> None:
        if k in (5, 20, 80, 160):
            data = 0.5 * float((operator(x_k) - y).abs().pow(2).sum())
            objectives[k] = data + lam * float((model.transform(x_k).abs() * weights).sum())

    x_hat = model(y, callback=record)
    values = [objectives[k] for k in sorted(objectives)]
    assert all(later < earlier for earlier, later in zip(values, values[1:], strict=False)), values
    assert float(model.lam[0]) == pytest.approx(lam, rel=1e-6)
    assert psnr(x_hat, x) > psnr(operator.naive(y), x) + 5.0
    assert bool(model.converged.all())


# -- algorithms against closed forms ---------------------------------------------------------------
def test_fista_solves_a_separable_lasso_exactly() -> None:
    """min ½‖D x − b‖² + λ‖x‖₁ with D diagonal: x_i = soft(D_i b_i, λ) / D_i²."""
    gen = torch.Generator().manual_seed(0)
    d = 0.5 + torch.rand(50, generator=gen, dtype=torch.float64)
    b = torch.randn(50, generator=gen, dtype=torch.float64).view(1, -1)
    lam = 0.3
    expected = soft_threshold(d * b, lam) / d**2
    x, info = fista(torch.zeros_like(b), lambda x: d * (d * x - b), lambda v, s: soft_threshold(v, s * lam),
                    1.0 / float(d.max() ** 2), max_iter=5000, tol=1e-13)
    assert float((x - expected).abs().max()) < 1e-10
    assert bool(info.converged.all())


def test_chambolle_pock_solves_two_pixel_tv_denoising_exactly() -> None:
    """min ½‖x − b‖² + λ|x₂ − x₁|: the two pixels move λ towards each other, or meet at the mean."""
    b = torch.tensor([[[[0.2, 1.0]]], [[[0.5, 0.6]]]], dtype=torch.float64)  # (2, 1, 1, 2)
    lam = 0.15
    expected = torch.tensor([[[[0.35, 0.85]]], [[[0.55, 0.55]]]], dtype=torch.float64)
    tau = torch.tensor(0.5, dtype=torch.float64)
    sigma = primal_dual_steps((1.0, 8.0), (0.5, 0.5), tau)
    identity = (lambda t: t, lambda t: t)
    x, duals, info = chambolle_pock(
        b.clone(), (torch.zeros_like(b), torch.zeros_like(gradient(b))), (identity, (gradient, gradient_adjoint)),
        (lambda v, s: (v - s * b) / (1 + s), lambda v, s: project_l2inf_ball(v, lam)), None, tau, sigma,
        max_iter=20000, tol=1e-14)
    assert float((x - expected).abs().max()) < 1e-10
    assert bool(info.converged.all())
    assert float((duals[0] - (x - b)).abs().max()) < 1e-9  # the data dual converges to the residual A x − y


@pytest.mark.parametrize("anisotropic", [False, True], ids=["isotropic", "anisotropic"])
def test_tv_duality_gap_closes_on_a_small_mri_problem(anisotropic) -> None:
    """At the solution p = A x − y, A* p + ∇* q = 0 and q in the dual ball; the primal-dual gap is zero.

    Dual of min ½‖Ax − y‖² + λTV(x): max −½‖p‖² − Re⟨p, y⟩ over A* p + ∇* q = 0 and |q_ij| ≤ λ (isotropic:
    each pixel's vector) or |q_h,ij|, |q_v,ij| ≤ λ (anisotropic: each component).
    """
    x = random_ellipses(1, 16, seed=3, dtype=torch.float64)
    operator = SingleCoilMRI(variable_density_mask((16, 16), 0.4, seed=2))
    y = operator(x)
    model = TVReconstruction(operator, lam=0.02, tol=1e-12, max_iter=20000, anisotropic=anisotropic)
    x_hat = model(y)
    p, q = model.state.duals
    tv = float(gradient(x_hat).abs().sum()) if anisotropic else float(total_variation(x_hat)[0])
    primal = 0.5 * float((operator(x_hat) - y).abs().pow(2).sum()) + 0.02 * tv
    dual = -0.5 * float(p.abs().pow(2).sum()) - float((p.conj() * y).real.sum())
    assert primal - dual < (1e-7 if anisotropic else 1e-8) * primal  # anisotropic: 3e-8 after 20000 iterations
    assert float((operator.adjoint(p) + gradient_adjoint(q)).abs().max()) < 1e-8
    pointwise = q.abs() if anisotropic else torch.sqrt((q.abs() ** 2).sum(dim=2))
    assert float(pointwise.max()) <= 0.02 * (1 + 1e-12)
    assert model.with_operator(operator).anisotropic is anisotropic


def test_anisotropic_and_isotropic_tv_differ_where_they_should() -> None:
    """Anisotropic TV keeps the corners of an axis-aligned square, which isotropic TV rounds off; a diagonal edge
    costs it √2 × more, so its advantage shrinks or turns on a diagonal-edged image."""
    grid = torch.arange(32, dtype=torch.float64)
    square = ((grid.view(-1, 1) - 15.5).abs() < 8) & ((grid.view(1, -1) - 15.5).abs() < 8)
    diagonal = grid.view(-1, 1) + grid.view(1, -1) < 31
    operator = SingleCoilMRI(variable_density_mask((32, 32), 0.3, seed=0))
    gaps = []
    for image in (square, diagonal):
        x = image.to(torch.float64).view(1, 1, 32, 32)
        y = operator(x)
        iso, aniso = (TVReconstruction(operator, lam=0.01, tol=1e-10, max_iter=5000, anisotropic=a)(y)
                      for a in (False, True))
        gaps.append(float(psnr(aniso, x) - psnr(iso, x)))
    print(f"anisotropic − isotropic PSNR: square {gaps[0]:+.2f} dB, diagonal {gaps[1]:+.2f} dB")
    assert gaps[0] > 1 and gaps[1] < gaps[0] - 1


# -- proximal operators against their definitions ---------------------------------------------------
def test_gradient_adjoint_dot_product_and_norm() -> None:
    gen = torch.Generator().manual_seed(1)
    for dtype in (torch.float64, torch.complex128):
        x = torch.randn((2, 3, 17, 23), generator=gen, dtype=dtype)
        q = torch.randn((2, 3, 2, 17, 23), generator=gen, dtype=dtype)
        lhs = torch.vdot(gradient(x).reshape(-1), q.reshape(-1))
        rhs = torch.vdot(x.reshape(-1), gradient_adjoint(q).reshape(-1))
        assert abs(complex(lhs - rhs)) < 1e-12 * abs(complex(lhs))
    v = torch.randn((1, 1, 32, 32), generator=gen, dtype=torch.float64)
    for _ in range(300):  # power iteration on ∇*∇: ‖∇‖² approaches 8 from below
        v = gradient_adjoint(gradient(v / v.norm()))
    assert 7.9 < float(v.norm()) <= 8.0


def test_soft_threshold_is_the_l1_prox() -> None:
    gen = torch.Generator().manual_seed(2)
    v = torch.randn(200, generator=gen, dtype=torch.float64)
    expected = torch.sign(v) * torch.clamp(v.abs() - 0.5, min=0)
    assert float((soft_threshold(v, 0.5) - expected).abs().max()) < 1e-15
    z = torch.randn(200, generator=gen, dtype=torch.complex128)
    out = soft_threshold(z, 0.5)  # complex: shrink the modulus by t, keep the phase
    assert float((out.abs() - torch.clamp(z.abs() - 0.5, min=0)).abs().max()) < 1e-14
    kept = out.abs() > 0
    assert float((torch.angle(out[kept]) - torch.angle(z[kept])).abs().max()) < 1e-12

    def objective(u: torch.Tensor) -> torch.Tensor:
        return 0.5 * (u - z).abs() ** 2 + 0.5 * u.abs()

    for _ in range(20):  # no perturbation of the prox lowers the separable objective
        delta = 1e-3 * torch.randn(200, generator=gen, dtype=torch.complex128)
        assert bool((objective(out + delta) >= objective(out) - 1e-15).all())
    assert float((clip_magnitude(z, 0.5) + out - z).abs().max()) < 1e-15  # Moreau: prox + prox of conjugate = id


def test_l2inf_projection_and_block_shrinkage() -> None:
    gen = torch.Generator().manual_seed(3)
    q = torch.randn((2, 1, 2, 8, 8), generator=gen, dtype=torch.complex128)
    radius = torch.tensor([0.5, 2.0], dtype=torch.float64).view(2, 1, 1, 1)
    projected = project_l2inf_ball(q, radius)
    magnitude = lambda t: torch.sqrt((t.abs() ** 2).sum(dim=2))  # noqa: E731
    assert bool((magnitude(projected) <= radius * (1 + 1e-12)).all())
    inside = magnitude(q) <= radius
    assert torch.equal(projected.permute(0, 1, 3, 4, 2)[inside], q.permute(0, 1, 3, 4, 2)[inside])
    for _ in range(20):  # the projection's variational inequality: Re⟨q − P q, u − P q⟩ ≤ 0 for u in the set
        u = project_l2inf_ball(torch.randn(q.shape, generator=gen, dtype=q.dtype), radius)
        assert float((torch.conj(q - projected) * (u - projected)).real.sum()) <= 1e-12

    z = torch.randn((2, 1, 8, 8), generator=gen, dtype=torch.complex128)
    t = torch.tensor([1.0, 100.0], dtype=torch.float64)
    norms = torch.linalg.vector_norm(z.reshape(2, -1), dim=1)
    ball = z * torch.clamp(t / norms, max=1).view(2, 1, 1, 1)  # projection onto ‖z_b‖ ≤ t_b
    assert float((shrink_l2(z, t) - (z - ball)).abs().max()) < 1e-14  # Moreau's identity
    assert float(shrink_l2(z, t)[1].abs().max()) == 0.0  # t > ‖z‖: shrunk to zero


# -- forms, batching, warm start, gradients ----------------------------------------------------------
@pytest.mark.parametrize("model_class", [TVReconstruction, WaveletReconstruction])
def test_constrained_form_meets_the_noise_level(mri_64, model_class) -> None:
    operator, x, y = mri_64
    gen = torch.Generator().manual_seed(4)
    noise = operator.project(torch.randn(y.shape, generator=gen, dtype=y.dtype))
    y_noisy = y + 0.02 * noise * torch.linalg.vector_norm(y) / torch.linalg.vector_norm(noise)
    eta = torch.linalg.vector_norm((y_noisy - y).reshape(2, -1), dim=1)
    model = model_class(operator, eta=eta, tol=1e-5, max_iter=3000)
    x_hat = model(y_noisy)
    residual = torch.linalg.vector_norm((operator(x_hat) - y_noisy).reshape(2, -1), dim=1)
    assert bool((residual <= eta * (1 + 1e-2)).all()), (residual / eta).tolist()
    assert model.lam is None and torch.equal(model.eta, eta)
    naive = operator.naive(y_noisy)
    assert all(psnr(x_hat[i], x[i]) > psnr(naive[i], x[i]) + 3.0 for i in range(2))


@pytest.mark.parametrize("model_class", [TVReconstruction, WaveletReconstruction])
def test_batched_equals_per_image(mri_64, model_class) -> None:
    operator, _, y = mri_64
    lam = torch.tensor([2e-3, 5e-3])
    batched = model_class(operator, lam=lam)
    x_batch = batched(y)
    for i in range(2):
        single = model_class(operator, lam=float(lam[i]))
        x_single = single(y[i:i + 1])
        assert float((x_batch[i:i + 1] - x_single).abs().max()) < 1e-5 * float(x_single.abs().max())
        assert int(batched.iterations[i]) == int(single.iterations[0])


def test_warm_start_from_the_solution_stops_at_once(mri_64) -> None:
    operator, _, y = mri_64
    tv = TVReconstruction(operator)
    x_hat = tv(y)
    first = tv.iterations.clone()
    again = tv(y, x0=tv.state)  # primal and dual variables: already a fixed point
    assert int(tv.iterations.max()) <= 3 < int(first.min())
    assert float((again - x_hat).abs().max()) < 1e-3 * float(x_hat.abs().max())
    wavelet = WaveletReconstruction(operator)
    x_hat = wavelet(y)
    wavelet(y, x0=x_hat)  # FISTA needs only the images
    assert int(wavelet.iterations.max()) <= 3


@pytest.mark.parametrize("model_class", [TVReconstruction, WaveletReconstruction])
def test_differentiable_gradient_is_exact_for_the_computed_map(mri_64, model_class) -> None:
    """Autograd through 100 iterations (checkpointed) vs central differences of the same 100-iteration map.

    The map is only piecewise smooth (projections, thresholds), so the difference step is 1e-8·‖y‖;
    measured agreement 1e-9 – 1e-7 relative (float64).
    """
    operator, x, _ = mri_64
    x = x[1:].double()
    y = operator(x)
    gen = torch.Generator().manual_seed(0)
    direction = operator.project(torch.randn(y.shape, generator=gen, dtype=y.dtype))
    direction = direction * 1e-8 * float(y.norm() / direction.norm())
    weights = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    model = model_class(operator, differentiable=True, max_iter=100)
    y_var = y.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((model(y_var).real * weights).sum(), y_var)
    assert int(model.iterations[0]) == 100
    same_map = model_class(operator, tol=0.0, max_iter=100)  # no early stop: the same 100 iterations
    loss = lambda t: float((same_map(t).real * weights).sum())  # noqa: E731
    finite_difference = (loss(y + direction) - loss(y - direction)) / 2
    directional = float((grad.conj() * direction).real.sum())
    assert directional == pytest.approx(finite_difference, rel=1e-4)


@pytest.mark.parametrize("model_class", [TVReconstruction, WaveletReconstruction])
def test_gradient_only_when_differentiable(mri_64, model_class) -> None:
    operator, _, y = mri_64
    y_var = y.clone().requires_grad_(True)
    out = model_class(operator, max_iter=30)(y_var)
    assert not out.requires_grad and out.grad_fn is None
    out = model_class(operator, max_iter=30, differentiable=True)(y_var)
    (grad,) = torch.autograd.grad(out.abs().sum(), y_var)
    assert bool(torch.isfinite(torch.view_as_real(grad)).all()) and float(grad.abs().max()) > 0


def test_default_lambda_follows_the_intensity_scale(mri_64) -> None:
    operator, _, y = mri_64
    model = TVReconstruction(operator)
    x1 = model(y)
    lam1 = model.lam.clone()
    x2 = model(1000.0 * y)
    assert torch.allclose(model.lam, 1000.0 * lam1, rtol=1e-5)
    assert float((x2 / 1000.0 - x1).abs().max()) < 1e-4 * float(x1.abs().max())


def test_real_and_nonneg_images(mri_64) -> None:
    operator, x, y = mri_64
    model = TVReconstruction(operator, real=True, nonneg=True)
    x_hat = model(y)
    assert x_hat.dtype == torch.float32 and float(x_hat.min()) >= 0.0
    assert psnr(x_hat, x) > 30.0


# -- bad input --------------------------------------------------------------------------------------
def test_bad_input_is_refused_with_the_argument_named(mri_64) -> None:
    operator, _, y = mri_64
    bad = y.clone()
    bad[0, 0, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="y contains NaN or Inf"):
        TVReconstruction(operator)(bad)
    bad[0, 0, 3, 4] = complex(float("inf"), 0)
    with pytest.raises(ValueError, match="y contains NaN or Inf"):
        WaveletReconstruction(operator)(bad)
    with pytest.raises(ValueError, match="lam must be finite and >= 0"):
        TVReconstruction(operator, lam=-1.0)(y)
    with pytest.raises(ValueError, match="eta must be finite and >= 0"):
        TVReconstruction(operator, eta=torch.tensor([0.1, -0.1]))(y)
    with pytest.raises(ValueError, match="eta_rel must be"):
        TVReconstruction(operator, eta_rel=-0.1)
    with pytest.raises(ValueError, match="lam=.* and a noise level"):
        TVReconstruction(operator, lam=0.1, eta=0.1)
    with pytest.raises(ValueError, match="nonneg=True needs real=True"):
        TVReconstruction(operator, nonneg=True)
    with pytest.raises(ValueError):  # the operator's own shape check
        TVReconstruction(operator)(y[..., :32])
    with pytest.raises(TypeError, match="LinearOperator"):
        TVReconstruction(lambda t: t)
    with pytest.raises(ValueError, match="SolverState for 2 images"):
        TVReconstruction(operator)(y[:1], x0=SolverState(torch.zeros(2, 1, 64, 64, dtype=torch.complex64)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("model_class", [TVReconstruction, WaveletReconstruction])
def test_cuda_matches_cpu(mri_64, model_class) -> None:
    operator, _, y = mri_64
    on_cpu = model_class(operator, max_iter=50, tol=0.0)(y)
    on_gpu = model_class(operator, max_iter=50, tol=0.0)(y.cuda())
    assert on_gpu.device.type == "cuda"
    assert float((on_gpu.cpu() - on_cpu).abs().max()) < 1e-4 * float(on_cpu.abs().max())
