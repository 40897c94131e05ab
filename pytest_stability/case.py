"""What a stability test returns: the model under test, how it measures and reconstructs, and the images.

A test marked ``@stable`` returns a :class:`Case`; the plugin runs the checks on it::

    @stable(eps=0.02, ratio_sweep=(0.15, 0.25, 0.33, 0.5))
    def test_unet(unet, brain_slices):
        return Case(unet, mri_family((128, 128), pattern="cartesian"), images=brain_slices, ratio=0.25)
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from .families import OperatorFamily
from .models import Reconstructor
from .operators import LinearOperator, as_operator


@dataclass
class Case:
    """A reconstruction case.

    ``model``: the network (an ``nn.Module`` or any callable) or a ready :class:`Reconstructor`.
    ``operator``: the sampling operator A the model was trained for, or an operator family
    (``family(ratio) -> operator``, see :mod:`pytest_stability.families`) together with the trained
    ``ratio``; the more-samples check needs a family. ``images``: ground truths (B, C, H, W) in the model's
    intensity scale (or None to use the ``images`` option's files). ``inputs``, ``complex_as_channels`` and
    ``numpy`` say how the model is called (see :class:`Reconstructor`); ``name`` labels it in reports.
    """

    model: Any
    operator: Any
    images: Any = None
    ratio: float | None = None
    inputs: Any = "naive"
    complex_as_channels: bool = False
    numpy: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        ratio = self.ratio
        if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, numbers.Real)
                                  or not 0 < float(ratio) <= 1):
            raise ValueError(f"Case: ratio={ratio!r} is not a sampling ratio in (0, 1]; give the ratio the model was "
                             "trained for (sampled / total), e.g. ratio=0.25 for 4-fold acceleration.")

    @property
    def family(self) -> Any:
        """The operator family, or None when the case has one fixed operator."""
        if isinstance(self.operator, OperatorFamily) or (callable(self.operator) and not isinstance(
                self.operator, LinearOperator) and not isinstance(self.operator, tuple)):
            return self.operator
        return None

    def fixed_operator(self) -> LinearOperator:
        """The operator at the trained ratio."""
        family = self.family
        if family is None:
            return as_operator(self.operator)
        if self.ratio is None:
            raise ValueError("Case has an operator family but no ratio: give ratio=... (the sampling ratio the "
                             "model was trained for) so the worst-case and structure checks know which operator "
                             "to use.")
        return family(self.ratio)

    def reconstructor(self, device: Any = None, model: Any = None) -> Reconstructor:
        """The model (or a stand-in ``model``, e.g. its copy on another device) as a :class:`Reconstructor`
        for the fixed operator."""
        model = self.model if model is None else model
        if isinstance(model, Reconstructor):
            return model.with_operator(self.fixed_operator())
        return Reconstructor(model, self.fixed_operator(), inputs=self.inputs,
                             complex_as_channels=self.complex_as_channels, numpy=self.numpy, name=self.name,
                             device=device)
