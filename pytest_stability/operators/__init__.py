"""Sampling operators: single- and multi-coil MRI, parallel-beam Radon, and adapters for your own."""

from .base import LinearOperator
from .mri import MultiCoilMRI, SingleCoilMRI, fft2c, ifft2c, simulate_coil_maps

__all__ = ["LinearOperator", "MultiCoilMRI", "SingleCoilMRI", "fft2c", "ifft2c", "simulate_coil_maps"]
