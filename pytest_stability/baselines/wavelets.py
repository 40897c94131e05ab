"""Orthonormal Daubechies wavelets: the periodic multi-level 2D DWT and its inverse, in torch.

The sparsifying transform W of the wavelet-l1 baseline (the paper's MRI-VN comparison used db2, 3 levels,
periodic extension). One level along an axis of even length N, with the length-L low-pass filter h
(``DAUBECHIES[name]``, PyWavelets' ``rec_lo``) and the high-pass g[k] = (-1)^k h[L-1-k]:

    a[n] = Σ_k h[k] x[(2n + k - L/2 + 1) mod N],    d[n] = Σ_k g[k] x[(2n + k - L/2 + 1) mod N],

which is PyWavelets' ``mode="periodization"`` to float precision (the tests check it). The 2D transform
filters the rows (last axis) then the columns; ``levels`` levels recurse on the low-low block. Coefficients
are stored in the Mallat layout, one tensor of the image's shape (B, C, H, W): after one level the top-left
quarter is the approximation (low-low), top-right low-high (low-pass down the columns, high-pass along the
rows), bottom-left high-low, bottom-right high-high; deeper levels overwrite the top-left block. The layout
makes thresholding one tensor operation.

The filters are orthonormal and the extension periodic, so W is unitary: W* W = W W* = I and the inverse
is the adjoint (``inverse``), which the FISTA and primal-dual solvers rely on. Complex images are
transformed by applying the real filters to the real and imaginary parts (W commutes with Re and Im).
Everything runs batched on the input's device and dtype, is differentiable, and uses strided convolutions
(analysis) and polyphase convolutions (synthesis) — no loop over images or pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["DAUBECHIES", "DaubechiesWavelet", "max_level"]

# Low-pass reconstruction filters of the orthonormal Daubechies wavelets dbN (N vanishing moments, length 2N),
# Daubechies (1992), Table 6.1; the digits are PyWavelets' ``Wavelet(name).rec_lo``.
DAUBECHIES: dict[str, tuple[float, ...]] = {
    "db1": (0.7071067811865476, 0.7071067811865476),
    "db2": (0.48296291314453416, 0.8365163037378079, 0.2241438680420134, -0.12940952255126037),
    "db3": (0.33267055295008263, 0.8068915093110925, 0.45987750211849154, -0.13501102001025458,
            -0.08544127388202666, 0.03522629188570953),
    "db4": (0.2303778133088965, 0.7148465705529157, 0.6308807679298589, -0.027983769416859854,
            -0.18703481171909309, 0.030841381835560764, 0.0328830116668852, -0.010597401785069032),
    "db5": (0.16010239797419293, 0.6038292697971896, 0.7243085284377729, 0.13842814590132074,
            -0.24229488706638203, -0.032244869584638375, 0.07757149384004572, -0.006241490212798274,
            -0.012580751999081999, 0.0033357252854737712),
    "db6": (0.11154074335010947, 0.49462389039845306, 0.7511339080210954, 0.31525035170919763,
            -0.22626469396543983, -0.12976686756726194, 0.09750160558732304, 0.027522865530305727,
            -0.03158203931748603, 0.0005538422011614961, 0.004777257510945511, -0.0010773010853084796),
    "db7": (0.07785205408500918, 0.3965393194819173, 0.7291320908462351, 0.4697822874051931,
            -0.14390600392856498, -0.22403618499387498, 0.07130921926683026, 0.08061260915108308,
            -0.03802993693501441, -0.01657454163066688, 0.01255099855609984, 0.0004295779729213665,
            -0.0018016407040474908, 0.00035371379997452024),
    "db8": (0.05441584224310401, 0.31287159091429995, 0.6756307362972898, 0.5853546836542067,
            -0.015829105256349306, -0.2840155429615469, 0.0004724845739132828, 0.12874742662047847,
            -0.017369301001807547, -0.044088253930794755, 0.013981027917398282, 0.008746094047405777,
            -0.004870352993451574, -0.00039174037337694705, 0.0006754494064505693, -0.00011747678412476953),
}

_DEFAULT_MAX_LEVELS = 4


def max_level(length: int, filter_length: int) -> int:
    """Deepest level whose coarsest band still holds a full filter: ⌊log2(length / (L - 1))⌋ (PyWavelets' rule)."""
    if filter_length < 2 or length < filter_length - 1:
        return 0
    return int(math.floor(math.log2(length / (filter_length - 1))))


class DaubechiesWavelet:
    """The orthonormal periodic 2D DWT W with Daubechies filters ``wavelet`` ("db1" … "db8") over ``levels``.

    ``forward(x)`` (= W x) and ``inverse(c)`` (= W* c = W⁻¹ c) take tensors (..., H, W), real or complex,
    and return coefficients/images of the same shape, dtype and device. ``levels=None`` picks the deepest
    level up to 4 that the image size allows: H and W divisible by 2^levels and every band at least as long
    as the filter (PyWavelets' ``dwt_max_level``). The filter taps are cached per device and dtype.
    """

    def __init__(self, wavelet: str = "db4", levels: int | None = None):
        if wavelet not in DAUBECHIES:
            raise ValueError(f"wavelet must be one of {sorted(DAUBECHIES)}, got {wavelet!r}.")
        if levels is not None and (not isinstance(levels, int) or levels < 1):
            raise ValueError(f"levels must be a positive int or None (deepest allowed up to "
                             f"{_DEFAULT_MAX_LEVELS}), got {levels!r}.")
        self.wavelet = wavelet
        self.levels = levels
        lo = torch.tensor(DAUBECHIES[wavelet], dtype=torch.float64)
        signs = torch.tensor([(-1.0) ** k for k in range(lo.numel())], dtype=torch.float64)
        self._bank = torch.stack([lo, signs * lo.flip(0)])  # (2, L): low-pass h, high-pass g
        self._polyphase, self._synthesis_pad = _polyphase_bank(self._bank)
        self._taps: dict[tuple, tuple[torch.Tensor, ...]] = {}

    @property
    def filter_length(self) -> int:
        return int(self._bank.shape[1])

    def __repr__(self) -> str:
        return f"DaubechiesWavelet({self.wavelet!r}, levels={self.levels})"

    # -- levels and the band layout --------------------------------------------------------------
    def levels_for(self, shape: tuple[int, int]) -> int:
        """The number of levels used for images of ``shape`` (H, W); raises if ``levels`` does not fit."""
        h, w = int(shape[-2]), int(shape[-1])
        allowed = min(max_level(h, self.filter_length), max_level(w, self.filter_length))
        divisible = min((h & -h).bit_length() - 1, (w & -w).bit_length() - 1)  # powers of 2 dividing H and W
        deepest = min(allowed, divisible)
        if self.levels is None:
            if deepest < 1:
                raise ValueError(f"images of shape {(h, w)} admit no level of {self.wavelet}: H and W must be "
                                 f"even and at least {2 * (self.filter_length - 1)}; pad or crop the image.")
            return min(deepest, _DEFAULT_MAX_LEVELS)
        if self.levels > deepest:
            raise ValueError(f"levels={self.levels} is too deep for images of shape {(h, w)} with {self.wavelet}: "
                             f"at most {deepest} (H and W divisible by 2^levels, bands at least "
                             f"{self.filter_length - 1} long). Use levels={max(deepest, 1)} or pad the image.")
        return self.levels

    def detail_weights(self, shape: tuple[int, int], *, like: torch.Tensor | None = None) -> torch.Tensor:
        """(H, W) map that is 0 on the coarsest approximation block and 1 on every detail band.

        Multiplying a threshold by it leaves the low-pass band (the image's local means, not sparse) alone.
        """
        h, w = int(shape[-2]), int(shape[-1])
        scale = 2 ** self.levels_for((h, w))
        kw = {} if like is None else {"device": like.device, "dtype": like.real.dtype}
        weights = torch.ones((h, w), **kw)
        weights[: h // scale, : w // scale] = 0
        return weights

    # -- the transform ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """W x: Mallat-layout coefficients of images x (..., H, W), same shape, dtype and device."""
        return self._apply(x, analysis=True)

    __call__ = forward

    def inverse(self, c: torch.Tensor) -> torch.Tensor:
        """W⁻¹ c = W* c: images from Mallat-layout coefficients c (..., H, W)."""
        return self._apply(c, analysis=False)

    adjoint = inverse

    def _apply(self, x: torch.Tensor, *, analysis: bool) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() < 2:
            raise ValueError(f"the wavelet transform takes tensors (..., H, W), got {type(x).__name__} "
                             f"of shape {tuple(getattr(x, 'shape', ()))}.")
        levels = self.levels_for(tuple(x.shape[-2:]))
        lead, (h, w) = x.shape[:-2], x.shape[-2:]
        planes = torch.view_as_real(x).movedim(-1, -3) if x.is_complex() else x
        planes = planes.reshape(-1, 1, h, w)
        if analysis:
            out = self._analysis(planes, *self._filters(planes)[:2], levels)
        else:
            out = self._synthesis(planes, *self._filters(planes)[2:], levels)
        if x.is_complex():
            return torch.view_as_complex(out.reshape(*lead, 2, h, w).movedim(-3, -1).contiguous())
        return out.reshape(x.shape)

    def _filters(self, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Analysis taps along rows and columns, then polyphase synthesis taps along rows and columns."""
        key = (like.device, like.dtype)
        taps = self._taps.get(key)
        if taps is None:
            bank = self._bank.to(device=like.device, dtype=like.dtype)
            poly = self._polyphase.to(device=like.device, dtype=like.dtype)
            taps = (bank[:, None, None, :], bank[:, None, :, None], poly[:, :, None, :], poly[:, :, :, None])
            self._taps[key] = taps
        return taps

    def _analysis(self, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, levels: int) -> torch.Tensor:
        pad = self.filter_length // 2 - 1
        w = x.shape[-1]
        band = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="circular") if pad else x, rows, stride=(1, 2))
        band = torch.cat([band[:, :1], band[:, 1:]], dim=-1)  # [low | high] along the rows
        band = F.conv2d(F.pad(band, (0, 0, pad, pad), mode="circular") if pad else band, cols, stride=(2, 1))
        top = band[:, :1]  # low-pass down the columns: [low-low | low-high]
        if levels > 1:
            top = torch.cat([self._analysis(top[..., : w // 2], rows, cols, levels - 1), top[..., w // 2:]], dim=-1)
        return torch.cat([top, band[:, 1:]], dim=-2)  # [low ; high] down the columns

    def _synthesis(self, c: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, levels: int) -> torch.Tensor:
        left, right = self._synthesis_pad
        n, h, w = c.shape[0], c.shape[-2], c.shape[-1]
        top = c[..., : h // 2, :]
        if levels > 1:
            top = torch.cat([self._synthesis(top[..., : w // 2], rows, cols, levels - 1), top[..., w // 2:]], dim=-1)
        band = torch.cat([top, c[..., h // 2:, :]], dim=1)  # (N, 2, H/2, W): low and high down the columns
        band = F.conv2d(F.pad(band, (0, 0, left, right), mode="circular") if left + right else band, cols)
        band = band.transpose(1, 2).reshape(n, 1, h, w)  # interleave the even and odd rows
        band = torch.cat([band[..., : w // 2], band[..., w // 2:]], dim=1)  # (N, 2, H, W/2)
        band = F.conv2d(F.pad(band, (left, right, 0, 0), mode="circular") if left + right else band, rows)
        return band.permute(0, 2, 3, 1).reshape(n, 1, h, w)  # interleave the even and odd columns


def _polyphase_bank(bank: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """The synthesis (adjoint of analysis) as a correlation of the two bands, one output per parity.

    Analysis computes c[n] = Σ_k f[k] x[2n + k - p] with p = L/2 - 1, so its adjoint gives the output
    sample x[2t + r] (parity r) = Σ_j f[2j + p + r] c[t - j] summed over both bands f ∈ {h, g}. With
    j ∈ [j_lo, j_hi] that is a correlation of c circularly padded by (j_hi, -j_lo) with taps
    w[r, band, i] = f[2(j_hi - i) + p + r]. Returns w (2 parities, 2 bands, K) and the padding.
    This runs about twice as fast as a transposed convolution folded back onto the period.
    """
    length = bank.shape[1]
    p = length // 2 - 1
    js = [j for r in (0, 1) for j in range(-length, length) if 0 <= 2 * j + p + r < length]
    j_lo, j_hi = min(js), max(js)
    taps = torch.zeros((2, 2, j_hi - j_lo + 1), dtype=bank.dtype)
    for r in (0, 1):
        for j in range(j_lo, j_hi + 1):
            k = 2 * j + p + r
            if 0 <= k < length:
                taps[r, :, j_hi - j] = bank[:, k]
    return taps, (j_hi, -j_lo)
