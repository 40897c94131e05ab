"""Compressed-sensing baselines: the stable reference reconstructions g that every stability check compares with.

The paper compared each network with a compressed-sensing method so that an instability is shown to be
the network's, not the inverse problem's. Layers, as in sigpy: :mod:`.wavelets` and :mod:`.prox`
(transforms and proximal operators), :mod:`.algorithms` (Chambolle–Pock, FISTA: no MRI or CT inside),
and the models y ↦ x̂ that combine them with an operator and data-scaled defaults:
:class:`TVReconstruction` (isotropic TV, Chambolle–Pock) and :class:`WaveletReconstruction`
(Daubechies wavelet-l1, FISTA). Both are ``torch.nn.Module``s, batched, CPU and CUDA.
"""

from .algorithms import SolverInfo, chambolle_pock, fista, primal_dual_steps
from .reconstruction import SolverState, SparseReconstruction
from .tv import TVReconstruction
from .wavelet_l1 import WaveletReconstruction
from .wavelets import DAUBECHIES, DaubechiesWavelet

__all__ = [
    "DAUBECHIES",
    "DaubechiesWavelet",
    "SolverInfo",
    "SolverState",
    "SparseReconstruction",
    "TVReconstruction",
    "WaveletReconstruction",
    "chambolle_pock",
    "fista",
    "primal_dual_steps",
]
