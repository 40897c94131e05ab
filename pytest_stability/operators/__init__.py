"""Sampling operators: single- and multi-coil MRI, parallel-beam Radon, and adapters for your own."""

from .adapters import FunctionOperator, MatrixOperator, OperatorError, adjointness_error
from .base import LinearOperator
from .convert import as_operator
from .deepinv import DeepinvOperator, deepinv_physics, from_two_channel, to_two_channel
from .mri import MultiCoilMRI, SingleCoilMRI, fft2c, for_images, ifft2c, simulate_coil_maps
from .radon import ParallelBeamRadon

__all__ = [
    "DeepinvOperator",
    "FunctionOperator",
    "LinearOperator",
    "MatrixOperator",
    "MultiCoilMRI",
    "OperatorError",
    "ParallelBeamRadon",
    "SingleCoilMRI",
    "adjointness_error",
    "as_operator",
    "deepinv_physics",
    "fft2c",
    "for_images",
    "from_two_channel",
    "ifft2c",
    "simulate_coil_maps",
    "to_two_channel",
]
