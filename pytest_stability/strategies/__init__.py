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
from collections.abc import Sequence
from typing import Any

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ..names import FUZZ_KINDS, PERTURBATION_KINDS
from ..operators import MultiCoilMRI, SingleCoilMRI, as_operator
from .added_details import details, object_support
from .fourier import fourier_rotate, fourier_shift
from .image import coloured_noise, gaussian_noise, intensity_bias
from .kspace import coil_errors, kspace_spikes, phase_errors
from .masks import nested_mask_pairs, sampling_masks
from .motion import SUBSTEPS as SUBSTEPS
from .motion import WHERE, rotations, shifts
from .perturbation import LEVELS, Perturbation, check_eps, check_images

__all__ = ["FUZZ_KINDS", "LEVELS", "PERTURBATION_KINDS", "Perturbation", "applicable_kinds", "coil_errors",
           "coloured_noise", "details", "fourier_rotate", "fourier_shift", "fuzz_inputs", "gaussian_noise",
           "intensity_bias", "kspace_spikes", "model_settings", "nested_mask_pairs", "object_support", "perturbations",
           "phase_errors", "rotations", "sampling_masks", "shifts"]


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
    x, eps = check_images(x), check_eps(eps, required=True)
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
    x = check_images(x)
    kinds = _kinds(kinds, allowed=FUZZ_KINDS, auto=(*applicable_kinds(operator), "detail"))
    parts = []
    rest = tuple(k for k in kinds if k != "detail")
    if rest:
        parts.append(perturbations(x, operator, eps=eps, kinds=rest))
    if "detail" in kinds:
        parts.append(details(x))
    return st.one_of(*parts)


# -- settings -------------------------------------------------------------------------------------------
def model_settings(parent: settings | None = None, **overrides: Any) -> settings:
    """Hypothesis settings for properties that call a model: ``deadline=None`` (a forward pass takes what it
    takes), ``HealthCheck.too_slow`` suppressed, the rest from ``parent`` or the active profile, so hypothesis's
    ``ci`` profile (derandomized, no database) applies in CI. Use as a decorator, e.g.
    ``@model_settings(max_examples=30)``; ``overrides`` are any :class:`hypothesis.settings` arguments."""
    base = parent or settings.default
    suppressed = tuple(dict.fromkeys((*base.suppress_health_check, HealthCheck.too_slow)))
    return settings(base, **{"deadline": None, "suppress_health_check": suppressed, **overrides})
