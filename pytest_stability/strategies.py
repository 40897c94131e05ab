"""Hypothesis strategies for model-based properties: perturbations with a norm budget, details and masks.

The worst-case search finds the perturbation a model is most sensitive to; fuzzing draws *plausible* ones —
noise, patient motion, hardware faults, a lesion somewhere in the object — and asks whether any of them
breaks the model. Every strategy here draws its tensors from a seed (an integer drawn by hypothesis feeding
a ``torch.Generator``) and a few scalar parameters, so a draw is cheap and hypothesis shrinks it towards a
smaller budget and a simpler perturbation: level 1 of 16, shift 1/8 pixel, one spike, the smoothest field.

Perturbations (:class:`Perturbation`; ``x`` the images (B, C, H, W), A the operator, y = A x):

==============  ==============  =================================================================================
kind            domain          what is drawn
==============  ==============  =================================================================================
``gaussian``    image r         white Gaussian noise, real for real x
``coloured``    image r         Gaussian noise smoothed by a Gaussian of width 0.5 … ``max_width`` pixels
``bias``        image r         a smooth intensity bias x·β (β a low-order random field, max |β| ≤ ``max_bias``)
``shift``       image r or      rigid sub-pixel shift (Fourier shift, periodic) of the whole scan (image, r = Sx − x)
                measurement e   or from part-way through the acquisition (kspace, e = P(A Sx − A x))
``rotation``    image r or e    rigid rotation about the image centre (three Fourier shears), as for ``shift``
``spike``       measurement e   k-space spikes at sampled locations (hardware faults), MRI only
``phase``       measurement e   a phase error per phase-encode line, e = y·(exp(iφ) − 1), MRI only
``coil``        measurement e   coil-sensitivity errors S_c(1 + δ_c) with δ_c smooth, multi-coil MRI only
==============  ==============  =================================================================================

The norm budget, the convention of the worst-case check: ‖r_b‖ ≤ eps·‖x_b‖ for image-domain perturbations and
‖e_b‖ ≤ eps·‖y_b‖ for measurement-domain ones, per image b (up to float rounding). Noise and spikes use
exactly level/16 of it; the physical kinds draw their amplitude (shift, angle, phase, bias, coil error) up
to its own bound and, when ``eps`` is given, reduce it (by bisection, so the perturbation stays a true
motion or phase error) until the budget holds. With ``eps=None`` only the physical bound applies: "motion
of at most 1 pixel" is ``shifts(x, max_shift=1.0)``.

Structural details (:func:`details`) are added to x like the structural check's (``Detail.scaled``), at a
position drawn inside the object (the support of x, holes filled) and shrinking towards its centre; masks
(:func:`sampling_masks`, :func:`nested_mask_pairs`) are the nested masks of :mod:`pytest_stability.masks`.

:func:`model_settings` gives the hypothesis settings for properties that call a model: no deadline, the
too-slow health check suppressed, everything else from the active profile (hypothesis loads its ``ci``
profile, derandomized, when it detects a CI environment).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from . import masks as _masks
from .details import Detail, make_detail
from .families import MRI_PATTERNS
from .metrics import l2_norm
from .names import DETAIL_NAMES, FUZZ_KINDS, PERTURBATION_KINDS
from .operators import LinearOperator, MultiCoilMRI, SingleCoilMRI, as_operator
from .operators.base import complex_dtype
from .search import _per_sample, _randn

__all__ = ["FUZZ_KINDS", "LEVELS", "PERTURBATION_KINDS", "Perturbation", "applicable_kinds", "coil_errors",
           "coloured_noise", "details", "fourier_rotate", "fourier_shift", "fuzz_inputs", "gaussian_noise",
           "intensity_bias", "kspace_spikes", "model_settings", "nested_mask_pairs", "object_support", "perturbations",
           "phase_errors", "rotations", "sampling_masks", "shifts"]

LEVELS = 16
"""Budget levels: a noise draw has norm level/LEVELS × the budget, level 1 … LEVELS (shrinks towards 1)."""

SUBSTEPS = 8
"""Shifts are drawn in steps of 1/SUBSTEPS pixel, angles of 1/SUBSTEPS degree, kspace motion onsets of
1/SUBSTEPS of the acquisition."""

_SEEDS = st.integers(0, 2**32 - 1)
_BISECTIONS = 24  # amplitude resolution 2^-24 of the drawn amplitude when a budget reduces it
WHERE = ("image", "kspace")


# -- what a draw is ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class Perturbation:
    """One drawn input change: ``tensor`` is r (B, C, H, W), added to the images, or e (B, ...), added to the
    measurements y = A x (``domain`` "image" or "measurement").

    ``scale`` (B,) is the norm the budget is relative to (‖x_b‖ or ‖y_b‖); ``label`` says what was drawn in
    words; ``params`` the drawn parameters (hashable: ``key`` identifies the draw); ``detail`` the structural
    detail of a ``kind="detail"`` draw (its tensor is d = contrast × max|x_b| × pattern).
    """

    kind: str
    domain: str
    tensor: torch.Tensor
    scale: torch.Tensor
    label: str
    params: tuple[tuple[str, Any], ...] = ()
    detail: Detail | None = None

    @property
    def key(self) -> tuple:
        return (self.kind, self.domain, self.params)

    @property
    def norm(self) -> torch.Tensor:
        """‖r_b‖ (or ‖e_b‖) per image, (B,)."""
        return l2_norm(self.tensor).cpu()

    @property
    def relative_norm(self) -> torch.Tensor:
        """‖r_b‖/‖x_b‖ (or ‖e_b‖/‖y_b‖) per image, (B,)."""
        return self.norm / self.scale.cpu()

    def describe(self) -> str:
        what = "‖r‖/‖x‖" if self.domain == "image" else "‖e‖/‖y‖"
        return f"{self.label}, {what} ≤ {float(self.relative_norm.max()):.3g}"

    def image(self, operator: LinearOperator) -> torch.Tensor:
        """The perturbation as an image: r itself, or A* e for a measurement-domain e."""
        return self.tensor if self.domain == "image" else operator.adjoint(self.tensor)

    def __repr__(self) -> str:
        return f"Perturbation({self.describe()})"


# -- validation and small helpers -------------------------------------------------------------------
def _images(x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"images must be a (B, C, H, W) tensor, got {shape}; add dimensions with x[None, None].")
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"images have dtype {x.dtype}; give float or complex images (x.float()).")
    x = x.detach()
    if bool((l2_norm(x) == 0).any()):
        raise ValueError("an image is all zeros: a budget relative to ‖x‖ is empty for it. Use images with content.")
    return x


def _eps(eps: Any, *, required: bool) -> float | None:
    if eps is None and not required:
        return None
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (math.isfinite(eps) and eps > 0):
        need = "a positive relative budget" if required else "a positive relative budget or None"
        raise ValueError(f"eps must be {need} (‖r‖ ≤ eps·‖x‖, e.g. eps=0.02), got {eps!r}.")
    return float(eps)


def _positive(name: str, value: Any, *, at_most: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    if at_most is not None and value > at_most:
        raise ValueError(f"{name} must be at most {at_most:g}, got {value!r}.")
    return float(value)


def _count(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}.")
    return value


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _fit(t: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """``t`` rescaled to the norms (B,) per image."""
    current = l2_norm(t)
    return t * _per_sample(norms / torch.where(current > 0, current, torch.ones_like(current)), t)


def _cap_linear(t: torch.Tensor, cap: torch.Tensor | None) -> tuple[torch.Tensor, float]:
    """A perturbation linear in its amplitude, scaled by one factor c ≤ 1 so every image keeps its cap."""
    if cap is None:
        return t, 1.0
    norm = l2_norm(t)
    c = float(torch.clamp(cap / norm.clamp_min(torch.finfo(norm.dtype).tiny), max=1.0).min())
    return (t if c >= 1.0 else t * c), c


def _cap(make: Callable[[float], torch.Tensor], cap: torch.Tensor | None) -> tuple[torch.Tensor, float]:
    """make(c) at the largest c in (0, 1] (to 2^-24) for which every image keeps its cap (c = 1 without a cap).

    Bisection keeps the lower end feasible, so the result respects the cap even where the norm is not
    monotone in c; ``make(0)`` must be zero.
    """
    full = make(1.0)
    if cap is None or bool((l2_norm(full) <= cap).all()):
        return full, 1.0
    lo, hi, best = 0.0, 1.0, None
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        t = make(mid)
        if bool((l2_norm(t) <= cap).all()):
            lo, best = mid, t
        else:
            hi = mid
    return (make(0.0) if best is None else best), lo


def _named(make: Callable, name: str) -> Callable:
    """``make`` under ``name``: hypothesis shows a failing draw as ``name((drawn values))``."""
    make.__name__ = make.__qualname__ = name
    return make


def _levels(levels: int) -> st.SearchStrategy[int]:
    return st.integers(1, _count("levels", levels))


def _operator(operator: Any, x: torch.Tensor) -> LinearOperator:
    if operator is None:
        raise ValueError("this kind perturbs the measurements: pass the operator A (e.g. the Case's operator).")
    op = as_operator(operator)
    if tuple(x.shape[-2:]) != op.image_shape:
        raise ValueError(f"images have shape {tuple(x.shape)} but the operator expects (B, C, {op.image_shape[0]}, "
                         f"{op.image_shape[1]}).")
    return op


def _mri(operator: Any, x: torch.Tensor, kind: str) -> SingleCoilMRI | MultiCoilMRI:
    op = _operator(operator, x)
    if not isinstance(op, (SingleCoilMRI, MultiCoilMRI)):
        raise ValueError(f"kind {kind!r} perturbs MRI k-space and needs a SingleCoilMRI or MultiCoilMRI operator, got "
                         f"{type(op).__name__}; leave {kind!r} out of kinds for this modality.")
    return op


# -- Fourier-domain image transforms (batched over (B, C); periodic boundaries) ---------------------------------
def _freqs(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.fft.fftfreq(n, dtype=like.real.dtype, device=like.device)


def _centred(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.arange(n, dtype=like.real.dtype, device=like.device) - (n - 1) / 2


def _same_kind(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return out if x.is_complex() else out.real.to(x.dtype)


def fourier_shift(x: torch.Tensor, dy: float, dx: float) -> torch.Tensor:
    """x moved by (dy, dx) pixels (rows down, columns right), band-limited and periodic: a phase ramp in k-space."""
    h, w = x.shape[-2:]
    ramp = torch.exp(-2j * math.pi * (_freqs(h, x).view(-1, 1) * dy + _freqs(w, x).view(1, -1) * dx))
    return _same_kind(torch.fft.ifft2(torch.fft.fft2(x.to(complex_dtype(x.dtype))) * ramp), x)


def _shear(x: torch.Tensor, amount: float, dim: int) -> torch.Tensor:
    """Shift every line along ``dim`` (-1: rows move along x; -2: columns along y) by amount × its centred index."""
    h, w = x.shape[-2:]
    if dim == -1:
        phase = _freqs(w, x).view(1, -1) * _centred(h, x).view(-1, 1)
    else:
        phase = _freqs(h, x).view(-1, 1) * _centred(w, x).view(1, -1)
    ramp = torch.exp(-2j * math.pi * amount * phase)
    return torch.fft.ifft(torch.fft.fft(x, dim=dim) * ramp, dim=dim)


def fourier_rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """x rotated by ``degrees`` about the image centre by three Fourier shears (band-limited, periodic)."""
    theta = math.radians(degrees)
    a, b = -math.tan(theta / 2), math.sin(theta)
    z = x.to(complex_dtype(x.dtype))
    return _same_kind(_shear(_shear(_shear(z, a, -1), b, -2), a, -1), x)


def _smooth_fields(shape: tuple[int, int], order: int, count: int, gen: torch.Generator, *, complex_: bool,
                   like: torch.Tensor) -> torch.Tensor:
    """``count`` random fields (count, H, W) made of the Fourier modes |k_y|, |k_x| ≤ order, max |field| = 1."""
    h, w = shape
    k = torch.arange(-order, order + 1, dtype=torch.float64)
    rows = torch.exp(2j * math.pi * torch.arange(h, dtype=torch.float64).view(-1, 1) * k.view(1, -1) / h)
    cols = torch.exp(2j * math.pi * k.view(-1, 1) * torch.arange(w, dtype=torch.float64).view(1, -1) / w)
    n = 2 * order + 1
    coef = torch.view_as_complex(torch.randn(count, n, n, 2, generator=gen, dtype=torch.float64))
    coef = coef / (1 + k.view(1, -1, 1) ** 2 + k.view(1, 1, -1) ** 2)  # smoother: weaker high modes
    field = rows @ coef @ cols
    if not complex_:
        field = field.real
    field = field / field.abs().reshape(count, -1).amax(dim=1).view(-1, 1, 1)
    dtype = complex_dtype(like.dtype) if complex_ else like.real.dtype
    return field.to(device=like.device, dtype=dtype)


# -- noise ----------------------------------------------------------------------------------------------
def gaussian_noise(x: torch.Tensor, *, eps: float = 0.02, levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """White Gaussian noise r with ‖r_b‖ = level/levels × eps·‖x_b‖ (real for real x)."""
    x, eps = _images(x), _eps(eps, required=True)
    scale = l2_norm(x)

    def make(drawn: tuple[int, int]) -> Perturbation:
        level, seed = drawn
        r = _fit(_randn(tuple(x.shape), x, _generator(seed)), level / levels * eps * scale)
        return Perturbation("gaussian", "image", r, scale, f"Gaussian noise (seed {seed}, level {level}/{levels})",
                            (("level", level), ("seed", seed)))

    return st.tuples(_levels(levels), _SEEDS).map(_named(make, "gaussian_noise"))


def coloured_noise(x: torch.Tensor, *, eps: float = 0.02, max_width: float = 4.0,
                   levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """Gaussian noise smoothed by a Gaussian of width σ ∈ {0.5, 1, …, max_width} pixels, ‖r_b‖ = level/levels ×
    eps·‖x_b‖; shrinks towards σ = 0.5 (the least coloured)."""
    x, eps = _images(x), _eps(eps, required=True)
    widths = max(1, int(2 * _positive("max_width", max_width)))
    scale = l2_norm(x)
    h, w = x.shape[-2:]
    radius2 = _freqs(h, x).view(-1, 1) ** 2 + _freqs(w, x).view(1, -1) ** 2

    def make(drawn: tuple[int, int, int]) -> Perturbation:
        level, half_width, seed = drawn
        sigma = half_width / 2
        white = _randn(tuple(x.shape), x, _generator(seed))
        smooth = torch.fft.ifft2(torch.fft.fft2(white.to(complex_dtype(x.dtype))) *
                                 torch.exp(-2 * math.pi ** 2 * sigma ** 2 * radius2))
        r = _fit(_same_kind(smooth, x), level / levels * eps * scale)
        return Perturbation("coloured", "image", r, scale,
                            f"coloured noise of width {sigma:g} px (seed {seed}, level {level}/{levels})",
                            (("level", level), ("width", sigma), ("seed", seed)))

    return st.tuples(_levels(levels), st.integers(1, widths), _SEEDS).map(_named(make, "coloured_noise"))


# -- smooth intensity bias --------------------------------------------------------------------------------
def intensity_bias(x: torch.Tensor, *, max_bias: float = 0.1, eps: float | None = None, max_order: int = 2,
                   levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """A smooth multiplicative bias x·(1 + β): r = x·β, β a real random field of Fourier order 1 … max_order with
    max|β| = level/levels × max_bias, reduced to the budget ‖r_b‖ ≤ eps·‖x_b‖ when eps is given."""
    x, eps = _images(x), _eps(eps, required=False)
    max_bias, max_order = _positive("max_bias", max_bias), _count("max_order", max_order)
    scale = l2_norm(x)
    cap = None if eps is None else eps * scale

    def make(drawn: tuple[int, int, int]) -> Perturbation:
        level, order, seed = drawn
        beta = _smooth_fields(tuple(x.shape[-2:]), order, 1, _generator(seed), complex_=False, like=x)[0]
        r, c = _cap_linear(x * (level / levels * max_bias) * beta, cap)
        amplitude = level / levels * max_bias * c
        return Perturbation("bias", "image", r, scale,
                            f"intensity bias of up to ±{100 * amplitude:.3g} %, order {order} (seed {seed})",
                            (("level", level), ("order", order), ("seed", seed)))

    return st.tuples(_levels(levels), st.integers(1, max_order), _SEEDS).map(_named(make, "intensity_bias"))


# -- rigid motion -------------------------------------------------------------------------------------------
def _acquired_after(op: SingleCoilMRI | MultiCoilMRI, fraction: float, like: torch.Tensor) -> torch.Tensor:
    """0/1 weights (W,) of the phase-encode columns acquired after the motion: of the columns the mask samples,
    acquired left to right, the last ``fraction`` (at least one)."""
    acquired = torch.nonzero(op.mask.any(dim=0)).flatten()
    after = acquired[acquired.numel() - max(1, round(fraction * acquired.numel())):]
    weights = torch.zeros(op.image_shape[1], dtype=like.real.dtype)
    weights[after] = 1
    return weights.to(like.device)


def _motion(kind: str, x: torch.Tensor, operator: Any, eps: float | None, where: Sequence[str],
            amounts: st.SearchStrategy, move: Callable[[torch.Tensor, Any, float], torch.Tensor],
            words: Callable[[Any, float], str]) -> st.SearchStrategy[Perturbation]:
    x, eps = _images(x), _eps(eps, required=False)
    where = (where,) if isinstance(where, str) else tuple(where)
    if not where or any(w not in WHERE for w in where):
        raise ValueError(f"where must be 'image', 'kspace' or both, got {where!r}.")
    scale_x = l2_norm(x)
    op, y, scale_y = None, None, None
    if "kspace" in where:
        op = _mri(operator, x, f"{kind} (where='kspace')")
        with torch.no_grad():
            y = op.forward(x)
        scale_y = l2_norm(y)

    def make(drawn: tuple[str, Any, int]) -> Perturbation:
        place, amount, onset = drawn
        if place == "image":
            t, c = _cap(lambda c: move(x, amount, c) - x, None if eps is None else eps * scale_x)
            return Perturbation(kind, "image", t, scale_x, words(amount, c) + " of the whole scan",
                                (("where", place), ("amount", amount)))
        fraction = onset / SUBSTEPS
        after = _acquired_after(op, fraction, y)

        def e(c: float) -> torch.Tensor:
            with torch.no_grad():
                return (op.forward(move(x, amount, c)) - y) * after
        t, c = _cap(e, None if eps is None else eps * scale_y)
        return Perturbation(kind, "measurement", t, scale_y,
                            words(amount, c) + f" during the last {fraction:.3g} of the acquisition "
                            f"(sampled phase-encode columns, left to right)", (("where", place), ("amount", amount),
                                                                ("onset", onset)))

    return st.tuples(st.sampled_from(where), amounts, st.integers(1, SUBSTEPS)).map(_named(make, kind))


def shifts(x: torch.Tensor, operator: Any = None, *, max_shift: float = 1.0, eps: float | None = None,
           where: str | Sequence[str] = "image") -> st.SearchStrategy[Perturbation]:
    """Rigid sub-pixel shifts (dy, dx), |dy|, |dx| ≤ max_shift pixels in steps of 1/8, not both 0 (patient motion).

    ``where="image"``: the whole scan sees the moved object, r = S x − x (image domain). ``where="kspace"`` (MRI):
    the object moves part-way through a sequential acquisition and the last 1/8 … 8/8 of the phase-encode
    columns see it moved, e = P(A S x − A x) (measurement domain). Give both to draw either. With ``eps``
    the shift is reduced until ‖r_b‖ ≤ eps·‖x_b‖ (‖e_b‖ ≤ eps·‖y_b‖). Shrinks towards one 1/8-pixel step.
    """
    steps = round(SUBSTEPS * _positive("max_shift", max_shift))
    if steps < 1:
        raise ValueError(f"max_shift must be at least 1/{SUBSTEPS} pixel, got {max_shift!r}.")
    amounts = st.tuples(st.integers(-steps, steps), st.integers(-steps, steps)).filter(lambda d: d != (0, 0))

    def move(x: torch.Tensor, d: tuple[int, int], c: float) -> torch.Tensor:
        return fourier_shift(x, c * d[0] / SUBSTEPS, c * d[1] / SUBSTEPS)

    def words(d: tuple[int, int], c: float) -> str:
        return f"shift by ({c * d[0] / SUBSTEPS:.4g}, {c * d[1] / SUBSTEPS:.4g}) px (rows, columns)"

    return _motion("shift", x, operator, eps, where, amounts, move, words)


def rotations(x: torch.Tensor, operator: Any = None, *, max_angle: float = 1.0, eps: float | None = None,
              where: str | Sequence[str] = "image") -> st.SearchStrategy[Perturbation]:
    """Rigid rotations about the image centre by 1/8 … max_angle degrees (either sense), as :func:`shifts`."""
    steps = round(SUBSTEPS * _positive("max_angle", max_angle, at_most=45.0))
    if steps < 1:
        raise ValueError(f"max_angle must be at least 1/{SUBSTEPS} degree, got {max_angle!r}.")
    amounts = st.integers(-steps, steps).filter(lambda a: a != 0)

    def move(x: torch.Tensor, a: int, c: float) -> torch.Tensor:
        return fourier_rotate(x, c * a / SUBSTEPS)

    def words(a: int, c: float) -> str:
        return f"rotation by {c * a / SUBSTEPS:.4g}°"

    return _motion("rotation", x, operator, eps, where, amounts, move, words)


# -- k-space faults --------------------------------------------------------------------------------------
def kspace_spikes(x: torch.Tensor, operator: Any, *, eps: float = 0.02, max_spikes: int = 32,
                  levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """Spikes in the measured k-space (RF or gradient hardware faults): e non-zero at 1 … max_spikes sampled
    locations with random complex amplitudes (per coil for multi-coil MRI), ‖e_b‖ = level/levels × eps·‖y_b‖.

    The first spike's location is drawn as an index into the sampled locations ordered from the k-space centre
    outwards; the others are the first ones of a seeded permutation, so a draw with fewer spikes keeps the
    same ones. Each location has its own seeded amplitude. Shrinks towards fewer spikes (one: the first), the
    first one at the centre, and the smallest budget.
    """
    x, eps = _images(x), _eps(eps, required=True)
    op = _mri(operator, x, "spike")
    max_spikes = _count("max_spikes", max_spikes)
    with torch.no_grad():
        y = op.forward(x)
    scale = l2_norm(y)
    h, w = op.image_shape
    sampled = torch.nonzero(op.mask)  # (m, 2) rows, columns
    radius = (sampled[:, 0] - h // 2) ** 2 + (sampled[:, 1] - w // 2) ** 2
    sampled = sampled[torch.argsort(radius, stable=True)]
    m, coils = sampled.shape[0], y.shape[1]

    def make(drawn: tuple[int, int, int, int]) -> Perturbation:
        level, first, count, seed = drawn
        gen = _generator(seed)
        others = torch.randperm(m, generator=gen)
        chosen = torch.cat([torch.tensor([first]), others[others != first][:count - 1]])
        amplitudes = torch.view_as_complex(torch.randn(coils, m, 2, generator=gen))[:, chosen]
        where = sampled[chosen]
        spikes = torch.zeros(coils, h, w, dtype=torch.complex64)
        spikes[:, where[:, 0], where[:, 1]] = amplitudes
        e = _fit(spikes.to(device=y.device, dtype=y.dtype).expand(y.shape).contiguous(),
                 level / levels * eps * scale)
        at = ", ".join(f"({int(r) - h // 2}, {int(c) - w // 2})" for r, c in where[:4].tolist())
        more = f" and {where.shape[0] - 4} more" if where.shape[0] > 4 else ""
        noun = "spike" if where.shape[0] == 1 else "spikes"
        return Perturbation("spike", "measurement", e, scale,
                            f"{where.shape[0]} k-space {noun} at {at}{more} (row, column from the centre; seed {seed})",
                            (("level", level), ("first", first), ("spikes", count), ("seed", seed)))

    drawn = st.tuples(_levels(levels), st.integers(0, m - 1), st.integers(1, min(max_spikes, m)), _SEEDS)
    return drawn.map(_named(make, "kspace_spikes"))


def phase_errors(x: torch.Tensor, operator: Any, *, max_phase: float = 0.2, eps: float | None = None,
                 levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """A phase error φ_j per phase-encode column j (eddy currents, motion between lines):
    e = y·(exp(iφ_j) − 1) with φ_j uniform in ±level/levels × max_phase radians, reduced to the budget
    ‖e_b‖ ≤ eps·‖y_b‖ when eps is given."""
    x, eps = _images(x), _eps(eps, required=False)
    op = _mri(operator, x, "phase")
    max_phase = _positive("max_phase", max_phase, at_most=math.pi)
    with torch.no_grad():
        y = op.forward(x)
    scale = l2_norm(y)
    cap = None if eps is None else eps * scale

    def make(drawn: tuple[int, int]) -> Perturbation:
        level, seed = drawn
        u = 2 * torch.rand(op.image_shape[1], generator=_generator(seed), dtype=torch.float64) - 1
        phi = (u * level / levels * max_phase).to(device=y.device, dtype=y.real.dtype)
        e, c = _cap(lambda c: y * (torch.polar(torch.ones_like(phi), c * phi) - 1), cap)
        return Perturbation("phase", "measurement", e, scale,
                            f"phase errors of up to ±{c * level / levels * max_phase:.3g} rad per phase-encode "
                            f"column (seed {seed})", (("level", level), ("seed", seed)))

    return st.tuples(_levels(levels), _SEEDS).map(_named(make, "phase_errors"))


def coil_errors(x: torch.Tensor, operator: Any, *, max_error: float = 0.1, eps: float | None = None,
                max_order: int = 2, levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """Coil-sensitivity errors (multi-coil MRI): the data come from maps S_c(1 + δ_c) while the model assumes S_c,
    so e = A' x − A x = M ⊙ F(δ_c S_c x), with δ_c smooth complex fields (Fourier order 1 … max_order) of
    max|δ| = level/levels × max_error, reduced to the budget ‖e_b‖ ≤ eps·‖y_b‖ when eps is given."""
    x, eps = _images(x), _eps(eps, required=False)
    op = _mri(operator, x, "coil")
    if not isinstance(op, MultiCoilMRI):
        raise ValueError("kind 'coil' perturbs coil sensitivities and needs a MultiCoilMRI operator, got "
                         "SingleCoilMRI; leave 'coil' out of kinds for single-coil data.")
    max_error, max_order = _positive("max_error", max_error), _count("max_order", max_order)
    with torch.no_grad():
        scale = l2_norm(op.forward(x))
    cap = None if eps is None else eps * scale

    def make(drawn: tuple[int, int, int]) -> Perturbation:
        level, order, seed = drawn
        delta = _smooth_fields(op.image_shape, order, op.n_coils, _generator(seed), complex_=True, like=op.coil_maps)
        wrong = MultiCoilMRI(op.mask, op.coil_maps * delta * (level / levels * max_error))
        with torch.no_grad():
            e, c = _cap_linear(wrong.forward(x), cap)
        return Perturbation("coil", "measurement", e, scale,
                            f"coil-sensitivity errors of up to {100 * c * level / levels * max_error:.3g} %, order "
                            f"{order} (seed {seed})", (("level", level), ("order", order), ("seed", seed)))

    return st.tuples(_levels(levels), st.integers(1, max_order), _SEEDS).map(_named(make, "coil_errors"))


# -- all kinds together ---------------------------------------------------------------------------------
def applicable_kinds(operator: Any = None) -> tuple[str, ...]:
    """The perturbation kinds an operator supports: all for multi-coil MRI, all but ``coil`` for single-coil MRI,
    the image-domain ones (``gaussian``, ``coloured``, ``bias``, ``shift``, ``rotation``) otherwise."""
    op = None if operator is None else as_operator(operator)
    if isinstance(op, MultiCoilMRI):
        return PERTURBATION_KINDS
    if isinstance(op, SingleCoilMRI):
        return tuple(k for k in PERTURBATION_KINDS if k != "coil")
    return tuple(k for k in PERTURBATION_KINDS if k not in ("spike", "phase", "coil"))


def _kinds(kinds: str | Sequence[str], *, allowed: tuple[str, ...], auto: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = auto if kinds == "auto" else (kinds,)
    kinds = tuple(kinds)
    for k in kinds:
        if k not in allowed:
            close = difflib.get_close_matches(str(k), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown perturbation kind {k!r}{hint}; expected 'auto' or some of {', '.join(allowed)}.")
    if not kinds:
        raise ValueError(f"kinds is empty; give 'auto' or some of {', '.join(allowed)}.")
    return tuple(dict.fromkeys(kinds))


def perturbations(x: torch.Tensor, operator: Any = None, *, eps: float = 0.02, kinds: str | Sequence[str] = "auto",
                  max_shift: float = 1.0, max_angle: float = 1.0, max_bias: float = 0.1, max_phase: float = 0.2,
                  max_error: float = 0.1) -> st.SearchStrategy[Perturbation]:
    """One of the ``kinds`` (``"auto"``: every kind the operator supports, :func:`applicable_kinds`), each within
    the budget eps (‖r_b‖ ≤ eps·‖x_b‖, ‖e_b‖ ≤ eps·‖y_b‖). Motion is drawn in the image and, for MRI, in
    k-space. Shrinks towards the first kind (Gaussian noise) and, within a kind, as its strategy does."""
    x, eps = _images(x), _eps(eps, required=True)
    kinds = _kinds(kinds, allowed=PERTURBATION_KINDS, auto=applicable_kinds(operator))
    mri = operator is not None and isinstance(as_operator(operator), (SingleCoilMRI, MultiCoilMRI))
    where = WHERE if mri else ("image",)
    make = {
        "gaussian": lambda: gaussian_noise(x, eps=eps),
        "coloured": lambda: coloured_noise(x, eps=eps),
        "bias": lambda: intensity_bias(x, max_bias=max_bias, eps=eps),
        "shift": lambda: shifts(x, operator, max_shift=max_shift, eps=eps, where=where),
        "rotation": lambda: rotations(x, operator, max_angle=max_angle, eps=eps, where=where),
        "spike": lambda: kspace_spikes(x, operator, eps=eps),
        "phase": lambda: phase_errors(x, operator, max_phase=max_phase, eps=eps),
        "coil": lambda: coil_errors(x, operator, max_error=max_error, eps=eps),
    }
    return st.one_of(*[make[k]() for k in PERTURBATION_KINDS if k in kinds])


def fuzz_inputs(x: torch.Tensor, operator: Any = None, *, eps: float = 0.02,
                kinds: str | Sequence[str] = "auto") -> st.SearchStrategy[Perturbation]:
    """What the fuzz check draws: :func:`perturbations` of ``kinds`` and, with ``"detail"`` among them (``"auto"``
    includes it), structural :func:`details` inside the object."""
    x = _images(x)
    kinds = _kinds(kinds, allowed=FUZZ_KINDS, auto=(*applicable_kinds(operator), "detail"))
    parts = []
    rest = tuple(k for k in kinds if k != "detail")
    if rest:
        parts.append(perturbations(x, operator, eps=eps, kinds=rest))
    if "detail" in kinds:
        parts.append(details(x))
    return st.one_of(*parts)


# -- structural details -----------------------------------------------------------------------------------
def object_support(x: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """The object's support (H, W) bool: pixels with |x| > threshold × max|x| in every image, holes filled (a
    dark ventricle inside the brain is inside; the background connected to the border is not)."""
    x = _images(x)
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must lie in [0, 1) (a fraction of max|x|), got {threshold!r}.")
    magnitude = x.abs().amax(dim=1)  # (B, H, W)
    inside = magnitude > threshold * magnitude.reshape(x.shape[0], -1).amax(dim=1).view(-1, 1, 1)
    border = torch.zeros_like(inside)
    border[:, 0, :] = border[:, -1, :] = border[:, :, 0] = border[:, :, -1] = True
    background = border & ~inside
    while True:  # flood fill of the outside from the border, one dilation per step (at most H·W steps)
        grown = (F.max_pool2d(background.float().unsqueeze(1), 3, 1, 1).squeeze(1) > 0) & ~inside
        if torch.equal(grown, background):
            break
        background = grown
    return (~background).all(dim=0).cpu()


class _Placements:
    """Centres (i, j) at which a detail of a given name and size lies inside the support, nearest the support's
    centroid first; computed once per (name, size)."""

    def __init__(self, support: torch.Tensor):
        self.support = support
        self.shape = tuple(support.shape)
        rows, cols = torch.nonzero(support, as_tuple=True)
        self.centroid = (rows.double().mean(), cols.double().mean())
        self.cache: dict[tuple[str, int], torch.Tensor] = {}

    def __call__(self, name: str, size: int) -> torch.Tensor:
        key = (name, size)
        if key not in self.cache:
            self.cache[key] = self._compute(name, size)
        return self.cache[key]

    def _compute(self, name: str, size: int) -> torch.Tensor:
        h, w = self.shape
        ci, cj = h // 2, w // 2
        try:  # drawn centred on pixel (ci, cj): moving it by whole pixels moves the pattern exactly
            ref = make_detail(name, (h, w), size=size, center=((ci + 0.5) / h, (cj + 0.5) / w))
        except ValueError:  # larger than the image
            return torch.zeros(0, 2, dtype=torch.long)
        top, left, bottom, right = ref.box
        top, left, bottom, right = top - 1, left - 1, bottom + 1, right + 1  # a pixel of margin around the box
        kh, kw = bottom - top, right - left
        outside = F.pad((~self.support).float().view(1, 1, h, w), (kw, kw, kh, kh), value=1.0)
        bad = F.conv2d(outside, torch.ones(1, 1, kh, kw))[0, 0]  # bad[p, q]: outside pixels under the box at (p, q)
        dt, dl = top - ci + kh, left - cj + kw
        fits = bad[dt:dt + h, dl:dl + w] < 0.5
        rows, cols = torch.nonzero(fits, as_tuple=True)
        order = torch.argsort((rows - self.centroid[0]) ** 2 + (cols - self.centroid[1]) ** 2, stable=True)
        return torch.stack([rows[order], cols[order]], dim=1)


def details(x: torch.Tensor, *, names: str | Sequence[str] | None = None, sizes: tuple[int, int] | None = None,
            contrasts: tuple[float, float] = (0.2, 1.0), support: torch.Tensor | None = None,
            threshold: float = 0.1) -> st.SearchStrategy[Perturbation]:
    """Structural details d added to x (``kind="detail"``): a name from ``names`` (default: every detail of
    ``DETAIL_NAMES`` that fits inside the object at the smallest size), a size in pixels from ``sizes`` (the
    detail's height, default 5 … max(6, 10 % of the image)), a centre inside ``support`` (default
    :func:`object_support` of x with ``threshold``) such that the detail's box lies inside it, and a contrast
    from ``contrasts`` in steps of 0.05 (d = contrast × max|x_b| × pattern, :meth:`Detail.scaled`).

    Shrinks towards the first name, the smallest size, the centre of the object and the lowest contrast.
    """
    x = _images(x)
    h, w = x.shape[-2:]
    if support is None:
        support = object_support(x, threshold)
    elif not isinstance(support, torch.Tensor) or tuple(support.shape) != (h, w):
        raise ValueError(f"support must be an (H, W) = ({h}, {w}) bool tensor, got "
                         f"{tuple(support.shape) if isinstance(support, torch.Tensor) else type(support).__name__}.")
    support = support.bool().cpu()
    if not bool(support.any()):
        raise ValueError("the object's support is empty: no pixel is above the threshold in every image; lower "
                         "threshold or pass support=... explicitly.")
    lo, hi = sizes if sizes is not None else (5, max(6, round(0.1 * min(h, w))))
    if isinstance(lo, bool) or not isinstance(lo, int) or not isinstance(hi, int) or not 1 <= lo <= hi:
        raise ValueError(f"sizes must be (smallest, largest) whole numbers of pixels, 1 <= smallest <= largest, got "
                         f"{sizes!r}.")
    c_lo, c_hi = contrasts
    if not 0 < c_lo <= c_hi:
        raise ValueError(f"contrasts must be (lowest, highest) with 0 < lowest <= highest, got {contrasts!r}.")
    placements = _Placements(support)
    explicit = names is not None
    names = tuple(DETAIL_NAMES if names is None else ((names,) if isinstance(names, str) else names))
    for name in names:
        if name not in DETAIL_NAMES:
            close = difflib.get_close_matches(str(name), DETAIL_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown detail {name!r}{hint}; expected some of {', '.join(DETAIL_NAMES)}.")
    fitting = tuple(n for n in names if len(placements(n, lo)))
    missing = [n for n in names if n not in fitting]
    if (explicit and missing) or not fitting:
        raise ValueError(f"detail(s) {', '.join(missing)} of size {lo} px do not fit inside the object "
                         f"({int(support.sum())} pixels of support in a {h}x{w} image); use smaller sizes, other "
                         "names, a lower threshold or an explicit support.")
    scale = l2_norm(x)
    steps = (round(20 * c_lo), max(round(20 * c_lo), round(20 * c_hi)))

    @st.composite
    def draw(draw: Callable) -> Perturbation:
        name = draw(st.sampled_from(fitting))
        size = draw(st.integers(lo, hi))
        while not len(placements(name, size)):  # too large for the object: the largest smaller size that fits
            size -= 1
        where = placements(name, size)
        i, j = where[draw(st.integers(0, where.shape[0] - 1))].tolist()
        contrast = draw(st.integers(*steps)) / 20
        detail = make_detail(name, (h, w), size=size, center=((i + 0.5) / h, (j + 0.5) / w))
        return Perturbation("detail", "image", detail.scaled(x, contrast), scale,
                            f"detail '{name}' of size {size} px at pixel ({i}, {j}), contrast {contrast:g}",
                            (("name", name), ("size", size), ("centre", (i, j)), ("contrast", contrast)), detail)

    return draw()


# -- sampling masks ---------------------------------------------------------------------------------------
def _mask_args(shape: Sequence[int], patterns: str | Sequence[str], ratios: tuple[float, float],
               gap: int) -> tuple[tuple[str, ...], int, int]:
    patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
    for p in patterns:
        if p not in MRI_PATTERNS:
            close = difflib.get_close_matches(str(p), list(MRI_PATTERNS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown mask pattern {p!r}{hint}; expected some of {', '.join(MRI_PATTERNS)}.")
    if not patterns:
        raise ValueError(f"patterns is empty; give some of {', '.join(MRI_PATTERNS)}.")
    lo, hi = (round(100 * r) for r in ratios)
    if not 1 <= lo <= hi - gap or hi > 100:
        relation = "<" if gap else "<="
        raise ValueError(f"ratios must be (lowest, highest) sampling ratios in (0, 1] with lowest {relation} highest, "
                         f"on a grid of 0.01, got {ratios!r}.")
    _masks._check_shape(tuple(shape))
    return patterns, lo, hi


def sampling_masks(shape: Sequence[int], *, patterns: str | Sequence[str] = tuple(MRI_PATTERNS),
                   ratios: tuple[float, float] = (0.1, 0.5), max_seed: int = 2**16 - 1,
                   **mask_kwargs: Any) -> st.SearchStrategy[_masks.SamplingMask]:
    """A :class:`~pytest_stability.masks.SamplingMask` of one of ``patterns`` (as :func:`mri_family` names them),
    a requested ratio in ``ratios`` on a grid of 0.01 and a seed in [0, max_seed]; shrinks towards the first
    pattern, the lowest ratio and seed 0. ``mask_kwargs`` go to the mask function (e.g. ``center_fraction``)."""
    patterns, lo, hi = _mask_args(shape, patterns, ratios, 0)
    shape = tuple(shape)

    def make(drawn: tuple[str, int, int]) -> _masks.SamplingMask:
        pattern, percent, seed = drawn
        return MRI_PATTERNS[pattern](shape, percent / 100, seed=seed, **mask_kwargs)

    drawn = st.tuples(st.sampled_from(patterns), st.integers(lo, hi), st.integers(0, max_seed))
    return drawn.map(_named(make, "sampling_mask"))


def nested_mask_pairs(shape: Sequence[int], *, patterns: str | Sequence[str] = tuple(MRI_PATTERNS),
                      ratios: tuple[float, float] = (0.1, 0.5), max_seed: int = 2**16 - 1,
                      **mask_kwargs: Any) -> st.SearchStrategy[tuple[_masks.SamplingMask, _masks.SamplingMask]]:
    """(fewer, more): two masks of one pattern and seed at requested ratios r1 < r2 in ``ratios`` (grid 0.01), so
    ``more`` holds every sample of ``fewer`` (:mod:`pytest_stability.masks` nests by construction; the achieved
    ratios may coincide on a coarse grid). For properties such as "more samples never lower the PSNR"."""
    patterns, lo, hi = _mask_args(shape, patterns, ratios, 1)
    shape = tuple(shape)

    @st.composite
    def draw(draw: Callable) -> tuple[_masks.SamplingMask, _masks.SamplingMask]:
        pattern = draw(st.sampled_from(patterns))
        low = draw(st.integers(lo, hi - 1))
        high = low + draw(st.integers(1, hi - low))
        seed = draw(st.integers(0, max_seed))
        make = MRI_PATTERNS[pattern]
        return (make(shape, low / 100, seed=seed, **mask_kwargs), make(shape, high / 100, seed=seed, **mask_kwargs))

    return draw()


# -- settings -------------------------------------------------------------------------------------------
def model_settings(parent: settings | None = None, **overrides: Any) -> settings:
    """Hypothesis settings for properties that call a model: ``deadline=None`` (a forward pass takes what it
    takes), ``HealthCheck.too_slow`` suppressed, the rest from ``parent`` or the active profile, so hypothesis's
    ``ci`` profile (derandomized, no database) applies in CI. Use as a decorator, e.g.
    ``@model_settings(max_examples=30)``; ``overrides`` are any :class:`hypothesis.settings` arguments."""
    base = parent or settings.default
    suppressed = tuple(dict.fromkeys((*base.suppress_health_check, HealthCheck.too_slow)))
    return settings(base, **{"deadline": None, "suppress_health_check": suppressed, **overrides})

