"""A sparse matrix with its exact conjugate transpose, differentiable and on any torch device.

Explicit sparse matrices are how the paper's CT experiments modelled the Radon transform, and they are the
fastest projector on a CPU: a CSR matrix with 32-bit indices (MKL's and cuSPARSE's fast path) does a
256² × 180-view product in about 10–20 ms here, against 60 ms with 64-bit indices. The adjoint is the
stored conjugate transpose, so the dot-product test holds to float precision by construction.

:class:`SparseMatrix` holds M as a scipy CSR matrix and hands out torch CSR copies of M and Mᴴ per
(device, dtype), built on first use and kept for the holder's lifetime. Products go through one autograd
Function that receives the holder, not sparse tensors, because torch.func's transforms cannot wrap sparse
tensors: reverse mode (backward applies Mᴴ), forward mode (jvp applies M) and ``torch.func.vmap`` all work.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from .base import complex_dtype, real_dtype


def _to_torch_csr(matrix: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    index = np.int32 if matrix.nnz < 2**31 - 1 else np.int64
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state", category=UserWarning)
        csr = torch.sparse_csr_tensor(torch.from_numpy(matrix.indptr.astype(index)),
                                      torch.from_numpy(matrix.indices.astype(index)),
                                      torch.from_numpy(np.ascontiguousarray(matrix.data)), size=matrix.shape,
                                      check_invariants=False)
        return csr.to(device=device, dtype=dtype)


class SparseMatrix:
    """M (m × n) from a scipy sparse matrix; ``matmul(v)`` = M v and ``matmul(v, adjoint=True)`` = Mᴴ v.

    ``v`` is a dense (n, K) block of K columns (a whole batch of images in one sparse product), real or
    complex; a real M acts on the real and imaginary parts of a complex block in a single product.
    """

    def __init__(self, matrix: Any):
        csr = matrix.tocsr()
        csr.sum_duplicates()
        self.shape = tuple(csr.shape)
        self.is_complex = bool(np.iscomplexobj(csr.data))
        self._csr = (csr, csr.conj().T.tocsr())
        self._torch: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def matrices(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(M, Mᴴ) as torch CSR tensors on ``device`` in ``dtype``, built once."""
        pair = self._torch.get((device, dtype))
        if pair is None:
            pair = self._torch[(device, dtype)] = tuple(_to_torch_csr(m, dtype, device) for m in self._csr)
        return pair

    def nbytes(self, dtype: torch.dtype = torch.float32) -> int:
        """Bytes of M and Mᴴ (values and indices) in ``dtype`` on one device."""
        return sum(t.values().nbytes + t.col_indices().nbytes + t.crow_indices().nbytes
                   for t in self.matrices(torch.device("cpu"), dtype))

    def matmul(self, dense: torch.Tensor, *, adjoint: bool = False) -> torch.Tensor:
        """M @ dense (or Mᴴ @ dense), differentiable in reverse and forward mode."""
        if self.is_complex:
            dense = dense.to(complex_dtype(dense.dtype))
        return _SparseMatmul.apply(self, adjoint, dense)


def _product(holder: SparseMatrix, adjoint: bool, dense: torch.Tensor) -> torch.Tensor:
    mat_dtype = dense.dtype if holder.is_complex else real_dtype(dense.dtype)
    matrix = holder.matrices(dense.device, mat_dtype)[1 if adjoint else 0]
    if dense.is_complex() and not holder.is_complex:
        k = dense.shape[1]
        out = matrix @ torch.cat([dense.real, dense.imag], dim=1).contiguous()
        return torch.complex(out[:, :k], out[:, k:])
    return matrix @ dense.contiguous()


class _SparseMatmul(torch.autograd.Function):
    """M @ X or Mᴴ @ X: backward applies the other one, jvp the same one (a linear map is its derivative)."""

    @staticmethod
    def forward(holder: SparseMatrix, adjoint: bool, dense: torch.Tensor) -> torch.Tensor:
        return _product(holder, adjoint, dense)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.holder, ctx.adjoint = inputs[0], inputs[1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, None, _SparseMatmul.apply(ctx.holder, not ctx.adjoint, grad)

    @staticmethod
    def jvp(ctx, _holder_tangent, _adjoint_tangent, tangent: torch.Tensor) -> torch.Tensor:
        return _SparseMatmul.apply(ctx.holder, ctx.adjoint, tangent)

    @staticmethod
    def vmap(info, in_dims, holder: SparseMatrix, adjoint: bool, dense: torch.Tensor):
        """Under ``torch.func.vmap`` the mapped dimension becomes more columns of one product."""
        columns = dense.movedim(in_dims[2], -1)  # (rows, K, V)
        out = _SparseMatmul.apply(holder, adjoint, columns.reshape(columns.shape[0], -1))
        return out.reshape(out.shape[0], *columns.shape[1:]), -1
