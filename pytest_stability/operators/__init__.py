"""Sampling operators: single- and multi-coil MRI, parallel-beam Radon, and adapters for your own."""

from .adapters import DeepinvOperator, FunctionOperator, MatrixOperator, adjointness_error, as_operator
from .base import LinearOperator
from .mri import MultiCoilMRI, SingleCoilMRI, fft2c, ifft2c, simulate_coil_maps
from .radon import ParallelBeamRadon

__all__ = [
    "DeepinvOperator",
    "FunctionOperator",
    "LinearOperator",
    "MatrixOperator",
    "MultiCoilMRI",
    "ParallelBeamRadon",
    "SingleCoilMRI",
    "adjointness_error",
    "as_operator",
    "fft2c",
    "ifft2c",
    "simulate_coil_maps",
]
