"""The reconstruction under test, f: y ↦ x̂, in pytest-stability's conventions, whatever the model takes.

A :class:`Reconstructor` wraps a user's model (an ``nn.Module`` or any callable) together with the
operator A it was trained for, and always presents the same face to the checks: it takes measurements
y = A x in the operator's layout and returns images (B, C, H, W). What the model actually consumes is
chosen with ``inputs``:

* ``"naive"``: the naive reconstruction, ``model(A.naive(y))`` — zero-filled A* y for MRI, FBP for CT
  (U-Nets such as DAGAN's generator or FBPConvNet);
* ``"y"``: the measurements themselves, ``model(y)`` (AUTOMAP-like networks);
* ``"y,mask"``: ``model(y, mask)`` with the (1, 1, H, W) 0/1 sampling mask (cascades with data consistency);
* ``"y,operator"``: ``model(y, A)`` (deepinv's ``model(y, physics)`` convention);
* ``"fastmri"``: fastMRI's ``model(masked_kspace, mask, num_low_frequencies)`` with k-space as
  (B, coils, H, W, 2) real and the column mask (1, 1, 1, W, 1);
* a callable ``inputs(y, A) -> tuple`` for anything else.

``complex_as_channels=True`` converts complex tensors to real/imaginary channels (B, 2C, ...) on the
way in and a (B, 2C, H, W) output back to complex (B, C, H, W), for models trained that way.

The user's model is only read: :func:`frozen` puts it in eval mode with gradients off for its
parameters and restores train/eval flags, ``requires_grad`` and buffers exactly afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from .operators import LinearOperator, as_operator

INPUT_MODES = ("naive", "y", "y,mask", "y,operator", "fastmri")


class ModelError(RuntimeError):
    """The model under test raised, or returned something that is not an image batch."""


class StabilityWarning(UserWarning):
    """A result is weaker than it looks (e.g. a gradient-free search gives only a loose lower bound)."""


@contextlib.contextmanager
def frozen(model: Any) -> Iterator[None]:
    """Use ``model`` read-only: eval mode, no gradients for its parameters, state restored bitwise after.

    Restores every submodule's training flag, every parameter's ``requires_grad`` and every buffer's
    values (a model may update buffers in its forward pass); parameters are never written.
    """
    if not isinstance(model, torch.nn.Module):
        yield
        return
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in flags:
            p.requires_grad_(flag)
        with torch.no_grad():
            for b, value in buffers:
                b.copy_(value)


def _to_channels(t: Any) -> Any:
    if isinstance(t, torch.Tensor) and t.is_complex():
        return torch.cat([t.real, t.imag], dim=1)
    return t


def _low_frequency_columns(columns: torch.Tensor) -> int:
    """Width of the contiguous run of sampled columns around the k-space centre (fastMRI's ACS lines)."""
    centre = columns.numel() // 2
    sampled = columns.bool().tolist()
    if not sampled[centre]:
        return 0
    left = centre
    while left > 0 and sampled[left - 1]:
        left -= 1
    right = centre
    while right + 1 < len(sampled) and sampled[right + 1]:
        right += 1
    return right - left + 1


class Reconstructor:
    """f: y ↦ x̂ for a user's model and the operator it reconstructs from; see the module docstring.

    ``device`` and ``dtype`` default to those of the model's first parameter (CPU, float32 for
    callables without parameters); measurements are moved there before the model sees them.
    ``numpy=True`` hands the model numpy arrays (for ONNX runtime or numpy code); such a model has no
    gradient, and the worst-case search then falls back to a gradient-free method.
    """

    def __init__(self, model: Any, operator: Any, *, inputs: str | Callable = "naive",
                 complex_as_channels: bool = False, numpy: bool = False, name: str | None = None,
                 device: torch.device | str | None = None, image_shape: tuple[int, int] | None = None):
        if not callable(model):
            raise TypeError(f"the model must be an nn.Module or a callable, got {type(model).__name__}.")
        if not callable(inputs) and inputs not in INPUT_MODES:
            raise ValueError(f"inputs={inputs!r} is not one of {INPUT_MODES} (or a callable (y, A) -> args).")
        self.model = model
        self.operator: LinearOperator = as_operator(operator, image_shape)
        self.inputs = inputs
        self.complex_as_channels = complex_as_channels
        self.numpy = numpy
        self.name = name or getattr(model, "__name__", None) or type(model).__name__
        param = next(iter(model.parameters()), None) if isinstance(model, torch.nn.Module) else None
        self.device = torch.device(device) if device is not None else (param.device if param is not None
                                                                        else torch.device("cpu"))
        self.dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        if self.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"the model's parameters are {self.dtype}; pytest-stability runs float32 or float64 "
                            f"models. Cast a copy with model.float() for the test.")

    # -- what the model is given -----------------------------------------------------------------
    def _mask(self, like: torch.Tensor) -> torch.Tensor:
        mask = getattr(self.operator, "mask", None)
        if mask is None:
            raise ValueError(f"inputs={self.inputs!r} needs an operator with a sampling mask; "
                             f"{type(self.operator).__name__} has none.")
        return mask.to(device=like.device, dtype=torch.float32 if like.dtype in (torch.complex64, torch.float32)
                       else torch.float64).view(1, 1, *mask.shape)

    def model_inputs(self, y: torch.Tensor) -> tuple:
        """The positional arguments the model is called with for measurements y."""
        if callable(self.inputs):
            args = self.inputs(y, self.operator)
            args = args if isinstance(args, tuple) else (args,)
        elif self.inputs == "naive":
            args = (self.operator.naive(y),)
        elif self.inputs == "y":
            args = (y,)
        elif self.inputs == "y,mask":
            args = (y, self._mask(y))
        elif self.inputs == "y,operator":
            args = (y, self.operator)
        else:
            args = self._fastmri_inputs(y)
        if self.complex_as_channels:
            args = tuple(_to_channels(a) for a in args)
        if self.numpy:
            args = tuple(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a for a in args)
        return args

    def _fastmri_inputs(self, y: torch.Tensor) -> tuple:
        mask = self._mask(y)[0, 0]
        if not bool((mask == mask[:1]).all()):
            raise ValueError("inputs='fastmri' needs a Cartesian mask of full columns (phase-encode lines along "
                             "the last axis); this mask varies along the rows.")
        columns = mask[0]
        return (torch.view_as_real(y), columns.bool().view(1, 1, 1, -1, 1), _low_frequency_columns(columns))

    # -- the reconstruction ----------------------------------------------------------------------
    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """x̂ = f(y), (B, C, H, W), on the model's device; errors name what the model did wrong."""
        y = y.to(self.device)
        args = self.model_inputs(y)
        try:
            out = self.model(*args)
        except Exception as exc:  # any failure inside user code is reported as the model's
            raise ModelError(f"model {self.name!r} raised {type(exc).__name__}: {exc}") from exc
        return self._check_output(out, y.shape[0])

    def _check_output(self, out: Any, batch: int) -> torch.Tensor:
        if isinstance(out, np.ndarray):
            out = torch.from_numpy(out).to(self.device)
        if not isinstance(out, torch.Tensor):
            raise ModelError(f"model {self.name!r} returned a {type(out).__name__}, not a tensor; wrap it so it "
                             "returns the reconstructed images (B, C, H, W).")
        if out.dim() == 3:
            out = out.unsqueeze(1)
        if self.complex_as_channels and not out.is_complex():
            if out.dim() != 4 or out.shape[1] % 2:
                raise ModelError(f"model {self.name!r} returned shape {tuple(out.shape)}; with complex_as_channels "
                                 "the output must be (B, 2C, H, W) real/imaginary channels.")
            half = out.shape[1] // 2
            out = torch.complex(out[:, :half], out[:, half:])
        if out.dim() != 4 or out.shape[0] != batch or tuple(out.shape[-2:]) != self.operator.image_shape:
            raise ModelError(f"model {self.name!r} returned shape {tuple(out.shape)}; expected ({batch}, C, "
                             f"{self.operator.image_shape[0]}, {self.operator.image_shape[1]}) images.")
        return out

    def with_operator(self, operator: Any) -> Reconstructor:
        """The same model and input conventions for another operator (e.g. another sampling ratio).

        A model bound to its operator (such as the CS baselines) can offer ``model.with_operator(operator)``
        returning its twin for the new operator; that twin is used. Other models are reused as they are.
        """
        model = self.model.with_operator(operator) if hasattr(self.model, "with_operator") else self.model
        return Reconstructor(model, operator, inputs=self.inputs, complex_as_channels=self.complex_as_channels,
                             numpy=self.numpy, name=self.name, device=self.device)

    def measure(self, x: torch.Tensor) -> torch.Tensor:
        """y = A x for images on the model's device and precision."""
        return self.operator.forward(x.to(self.device))

    def __repr__(self) -> str:
        return f"Reconstructor({self.name!r}, inputs={self.inputs!r}, operator={self.operator!r})"


def as_reconstructor(model: Any, operator: Any = None, **kwargs: Any) -> Reconstructor:
    """``model`` as a :class:`Reconstructor` (returned unchanged if it already is one)."""
    if isinstance(model, Reconstructor):
        return model
    if operator is None:
        operator = getattr(model, "operator", None)
        if operator is None:
            raise ValueError(f"no operator for model {type(model).__name__}: pass operator=... (the A the model "
                             "reconstructs from).")
    return Reconstructor(model, operator, **kwargs)
