"""A user's own CT projector as a strict test double: float32 real tensors only, as GPU projectors take.

The projector is a real sparse matrix of strip integrals (a CT-like system matrix) applied by torch's sparse
CSR product, wrapped as a (forward, adjoint) pair. Anything but a float32 real tensor raises inside it, as a
real projector would, and is also recorded in ``VIOLATIONS``: a cast anywhere in the library is caught even
where the library catches the error (e.g. the search's fallback from forward-mode AD).
"""

import functools
import warnings

import numpy as np
import scipy.sparse as sp
import torch

VIOLATIONS: list[str] = []


def strip_matrix(size: int, n_angles: int, *, seed: int = 0) -> sp.csr_matrix:
    """Rows (angle, detector): the pixels whose centre lies within half a pixel of the detector's line.

    The angles over [0, π) come in a seeded order, so the first k angles' rows are a nested subset.
    """
    angles = np.random.default_rng(seed).permutation(n_angles) * np.pi / n_angles
    centre = np.arange(size) - (size - 1) / 2
    rows, cols = np.meshgrid(centre, centre, indexing="ij")
    strips = [np.abs(cols * np.cos(a) + rows * np.sin(a) - d) < 0.5 for a in angles for d in centre]
    return sp.csr_matrix(np.array(strips, dtype=np.float32).reshape(len(strips), -1))


def _torch_csr(matrix: sp.csr_matrix) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(torch.from_numpy(matrix.indptr.astype(np.int64)),
                                       torch.from_numpy(matrix.indices.astype(np.int64)),
                                       torch.from_numpy(matrix.data), size=matrix.shape, check_invariants=False)


def _strict(t: torch.Tensor, what: str) -> None:
    if t.dtype != torch.float32:
        VIOLATIONS.append(f"{what} called with {t.dtype}")
        raise RuntimeError(f"expected scalar type Float but found {t.dtype} (the projector's {what} takes float32)")


def projector(matrix: sp.csr_matrix, size: int):
    """(forward, adjoint) of ``matrix`` on (B, C, size, size) images and (B, C, m) sinograms, float32 only."""
    m, m_t = _torch_csr(matrix), _torch_csr(matrix.T.tocsr())

    def forward(x: torch.Tensor) -> torch.Tensor:
        _strict(x, "forward")
        b, c = x.shape[:2]
        return (m @ x.reshape(b * c, -1).T).T.reshape(b, c, -1)

    def adjoint(y: torch.Tensor) -> torch.Tensor:
        _strict(y, "adjoint")
        b, c = y.shape[:2]
        return (m_t @ y.reshape(b * c, -1).T).T.reshape(b, c, size, size)

    return forward, adjoint


@functools.cache
def full_matrix(size: int) -> sp.csr_matrix:
    """All ``size`` angles × ``size`` detectors: sampling ratio m / N = 1."""
    return strip_matrix(size, size)


def views(size: int, ratio: float) -> sp.csr_matrix:
    """The rows of the first round(ratio · size) angles: sampling ratio m / N = views / size, nested in ratio."""
    return full_matrix(size)[:max(1, round(ratio * size)) * size]
