"""deepinv's physics as operators, and any operator as a deepinv physics.

Conventions. deepinv (https://deepinv.github.io) carries complex images as two real channels: an image is
(B, 2, H, W), the real part in channel 0 and the imaginary part in channel 1; single-coil k-space likewise
(B, 2, H, W); multi-coil k-space (B, 2, N, H, W). pytest-stability carries the same data as complex tensors:
images (B, 1, H, W), k-space (B, 1, H, W) and (B, N, H, W). :func:`to_two_channel` and :func:`from_two_channel`
convert between the two. deepinv's MRI physics compute the same operator as the built-in ones: the centred
orthonormal DFT F = fftshift ∘ fftn(norm="ortho") ∘ ifftshift (fastMRI's convention, ours too), the same
0/1 mask (deepinv stores it as (B, 2, H, W), one copy per channel; ours is (H, W)) and the same coil maps
(deepinv's (B, N, H, W) complex, ours (N, H, W)), so A x agrees to float precision (tests/test_deepinv.py).

* :class:`DeepinvOperator`: a deepinv physics (or anything with ``A`` and ``A_adjoint``) as a
  :class:`~.base.LinearOperator`, its convention detected;
* :func:`deepinv_physics`: a deepinv physics for any operator, for deepinv's reconstruction networks
  ``model(y, physics)`` (the ``inputs="deepinv"`` mode of :class:`~pytest_stability.models.Reconstructor`).

deepinv is not a dependency: :class:`DeepinvOperator` uses the physics it is given, and only
:func:`deepinv_physics` imports deepinv, to build a physics for an operator that has none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .adapters import FunctionOperator
from .base import LinearOperator, complex_dtype, real_dtype
from .mri import MultiCoilMRI, SingleCoilMRI

IMAGE_DIMS = 4  # deepinv's 2D images (B, C, H, W); measurements of more dimensions carry a coil axis


def to_two_channel(z: torch.Tensor, coil_axis: bool) -> torch.Tensor:
    """Our complex (B, C, ...) as deepinv's real (B, 2, ...): (B, 1, ...) without a coil axis (C = 1 becomes the
    real/imaginary axis), (B, 2, C, ...) with one. Real input is the complex one with zero imaginary part."""
    z = z.to(complex_dtype(z.dtype))
    if coil_axis:
        return torch.stack([z.real, z.imag], dim=1)
    if z.shape[1] != 1:
        raise ValueError(f"deepinv's two-channel convention holds one complex channel (B, 1, ...) without a coil "
                         f"axis, got shape {tuple(z.shape)}.")
    return torch.cat([z.real, z.imag], dim=1)


def from_two_channel(t: torch.Tensor, coil_axis: bool) -> torch.Tensor:
    """deepinv's real (B, 2, ...) as our complex tensor: (B, 1, ...), or (B, N, ...) from (B, 2, N, ...) with a coil
    axis; the inverse of :func:`to_two_channel`."""
    if t.is_complex() or t.dim() < 3 or t.shape[1] != 2:
        raise ValueError(f"expected deepinv's two-channel convention, real (B, 2, ...) with the real and imaginary "
                         f"parts, got a {str(t.dtype).replace('torch.', '')} tensor of shape {tuple(t.shape)}.")
    z = torch.complex(t[:, 0], t[:, 1])
    return z if coil_axis else z.unsqueeze(1)


def _is_deepinv_mri(physics: Any) -> bool:
    """deepinv's MRI physics (MRI, MultiCoilMRI, ...) share the MRIMixin: complex data as two channels."""
    return any(cls.__name__ == "MRIMixin" for cls in type(physics).__mro__)


def _physics_device(physics: Any) -> torch.device:
    buffer = next(iter(physics.buffers()), None) if isinstance(physics, torch.nn.Module) else None
    return buffer.device if buffer is not None else torch.device("cpu")


def _takes_two_channels(physics: Any, image_shape: tuple[int, int]) -> bool:
    """Whether ``physics`` carries complex images as two channels: deepinv's MRI physics by their class, any
    other by probing ``A`` with zeros of one channel, then (if refused) of two."""
    if _is_deepinv_mri(physics):
        return True
    failures = []
    for channels in (1, 2):
        try:
            with torch.no_grad():
                physics.A(torch.zeros((1, channels, *image_shape), device=_physics_device(physics)))
            return channels == 2
        except Exception as exc:  # the physics refused this layout: try the next one
            failures.append(f"(1, {channels}, {image_shape[0]}, {image_shape[1]}): {type(exc).__name__}: {exc}")
    raise ValueError(f"{type(physics).__name__}.A takes neither real images (B, 1, H, W) nor deepinv's two-channel "
                     "complex images (B, 2, H, W):\n  " + "\n  ".join(failures) + "\nCheck image_shape, or say "
                     "which it takes: complex_as_channels=True (two channels) or False.")


class DeepinvOperator(FunctionOperator):
    """A deepinv ``LinearPhysics`` (or anything with ``A(x)`` and ``A_adjoint(y)``) as an operator.

    ``complex_as_channels`` says whether the physics carries complex images as two real channels (B, 2, H, W),
    as deepinv's MRI physics do; by default it is found: from the class for deepinv's MRI physics, else by
    probing ``physics.A`` with zeros of one channel (1, 1, H, W) and, if they are refused, of two. With two
    channels our complex (B, 1, H, W) images are converted on the way in and the measurements on the way out
    (see the module docstring), so checks see complex tensors as for the built-in MRI operators; measurements
    with a coil axis (B, 2, N, H, W) become (B, N, H, W) (``coil_axis``). The naive reconstruction is
    ``physics.A_dagger`` when ``use_dagger=True`` (deepinv's pseudo-inverse, which for some physics runs
    conjugate gradients), else A* y. For deepinv's MRI physics ``project`` zeroes what the mask does not sample.
    """

    def __init__(self, physics: Any, image_shape: tuple[int, int], *, complex_as_channels: bool | None = None,
                 use_dagger: bool = False, domain_is_complex: bool | None = None):
        if not (callable(getattr(physics, "A", None)) and callable(getattr(physics, "A_adjoint", None))):
            raise TypeError(f"{type(physics).__name__} has no A(x) and A_adjoint(y) methods; it is not a "
                            "deepinv LinearPhysics.")
        self.physics = physics
        self.complex_as_channels = (_takes_two_channels(physics, image_shape) if complex_as_channels is None
                                    else bool(complex_as_channels))
        self._coil_axis = False
        super().__init__(self._physics_forward, self._physics_adjoint, image_shape,
                         naive=self._physics_dagger if use_dagger else None,
                         domain_is_complex=self.complex_as_channels if domain_is_complex is None else domain_is_complex)

    @property
    def coil_axis(self) -> bool:
        """Whether the physics's two-channel measurements have a coil axis, (B, 2, N, H, W); learnt with the layout."""
        if self._trailing is None:
            self._probe()
        return self._coil_axis

    def _physics_forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.complex_as_channels:
            return self.physics.A(x)
        out = self.physics.A(to_two_channel(x, coil_axis=False))
        self._coil_axis = out.dim() > IMAGE_DIMS
        return from_two_channel(out, self._coil_axis)

    def _physics_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self._to_images(self.physics.A_adjoint, y)

    def _physics_dagger(self, y: torch.Tensor) -> torch.Tensor:
        return self._to_images(self.physics.A_dagger, y)

    def _to_images(self, method: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """The physics's ``method`` (A_adjoint, A_dagger) on our measurements y, as our images."""
        if not self.complex_as_channels:
            return method(y)
        return from_two_channel(method(to_two_channel(y, self.coil_axis)), coil_axis=False)

    def _mri_mask(self) -> torch.Tensor | None:
        """A deepinv MRI physics's 0/1 mask, one channel (B, 1, H, W) of its (B, 2, H, W); None for other physics."""
        mask = getattr(self.physics, "mask", None)
        if self.complex_as_channels and _is_deepinv_mri(self.physics) and isinstance(mask, torch.Tensor):
            return mask[:, :1]
        return None

    def project(self, y: torch.Tensor) -> torch.Tensor:
        """Zero the k-space entries a deepinv MRI physics's mask does not sample; y itself for other physics."""
        mask = self._mri_mask()
        return y if mask is None else y * mask.to(device=y.device, dtype=real_dtype(y.dtype))

    @property
    def sampling_ratio(self) -> float:
        """The mask's sampling ratio for deepinv's MRI physics (as for the built-in MRI operators), else m / N."""
        mask = self._mri_mask()
        return super().sampling_ratio if mask is None else float(mask.float().mean())


def uses_two_channels(operator: LinearOperator) -> bool:
    """Whether deepinv carries ``operator``'s data as two real channels: complex images (MRI) do, real ones do not."""
    return operator.complex_as_channels if isinstance(operator, DeepinvOperator) else operator.domain_is_complex


def to_deepinv(operator: LinearOperator, y: torch.Tensor) -> torch.Tensor:
    """Measurements y of ``operator`` in deepinv's convention (see :func:`deepinv_physics`)."""
    if not uses_two_channels(operator):
        return y
    if isinstance(operator, DeepinvOperator):
        return to_two_channel(y, operator.coil_axis)
    return to_two_channel(y, coil_axis=type(operator) is MultiCoilMRI or y.shape[1] > 1)


def deepinv_physics(operator: LinearOperator, like: torch.Tensor) -> Any:
    """A deepinv physics computing ``operator`` in deepinv's conventions, its constants on ``like``'s device and in
    its precision.

    For a :class:`DeepinvOperator`, the physics it wraps; for :class:`SingleCoilMRI` and :class:`MultiCoilMRI`,
    deepinv's ``MRI`` and ``MultiCoilMRI`` with the same mask (and coil maps), the same operator (see the module
    docstring); for any other operator a ``deepinv.physics.LinearPhysics`` whose ``A`` and ``A_adjoint`` are the
    operator's, on two channels when its images are complex (:func:`uses_two_channels`).
    """
    if isinstance(operator, DeepinvOperator):
        return operator.physics
    try:
        import deepinv
    except ImportError as exc:
        raise ImportError(f"a deepinv physics for {type(operator).__name__} (inputs='deepinv') needs deepinv: "
                          "pip install deepinv.") from exc
    device, real = like.device, real_dtype(like.dtype)
    if type(operator) is SingleCoilMRI:
        return deepinv.physics.MRI(mask=operator.mask.to(device=device, dtype=real), device=device)
    if type(operator) is MultiCoilMRI:
        maps = operator.coil_maps.to(device=device, dtype=complex_dtype(real))
        return deepinv.physics.MultiCoilMRI(mask=operator.mask.to(device=device, dtype=real), coil_maps=maps,
                                            device=device)
    if not operator.domain_is_complex:
        return deepinv.physics.LinearPhysics(A=lambda x, **_: operator.forward(x),
                                             A_adjoint=lambda y, **_: operator.adjoint(y),
                                             img_size=(1, *operator.image_shape), device=device)
    measurement_dims = 2 + len(operator.measurement_trailing)

    def forward(x: torch.Tensor, **_: Any) -> torch.Tensor:
        y = operator.forward(from_two_channel(x, coil_axis=False))
        return to_two_channel(y, coil_axis=y.shape[1] > 1)

    def adjoint(t: torch.Tensor, **_: Any) -> torch.Tensor:
        return to_two_channel(operator.adjoint(from_two_channel(t, coil_axis=t.dim() > measurement_dims)),
                              coil_axis=False)

    return deepinv.physics.LinearPhysics(A=forward, A_adjoint=adjoint, img_size=(2, *operator.image_shape),
                                         device=device)
