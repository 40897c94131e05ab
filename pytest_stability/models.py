"""The reconstruction under test, f: y ↦ x̂, in pytest-stability's conventions, whatever the model takes.

A :class:`Reconstructor` wraps a user's model (an ``nn.Module`` or any callable) together with the
operator A it was trained for, and always presents the same face to the checks: it takes measurements
y = A x in the operator's layout and returns images (B, C, H, W). What the model actually consumes is
chosen with ``inputs``:

* ``"naive"``: the naive reconstruction, ``model(A.naive(y))`` — zero-filled A* y for MRI, FBP for CT
  (U-Nets such as DAGAN's generator or FBPConvNet);
* ``"y"``: the measurements themselves, ``model(y)`` (AUTOMAP-like networks);
* ``"y,mask"``: ``model(y, mask)`` with the (1, 1, H, W) 0/1 sampling mask (cascades with data consistency);
* ``"y,operator"``: ``model(y, A)`` with the operator itself;
* ``"deepinv"``: deepinv's ``model(y, physics)`` with a real deepinv physics for A (the one a
  ``DeepinvOperator`` wraps, deepinv's MRI physics for the built-in MRI operators, else a ``LinearPhysics``
  of A and A*; :func:`~pytest_stability.operators.deepinv_physics`) and y in deepinv's convention: complex
  data as two real channels, (B, 2, H, W) or (B, 2, coils, H, W); a two-channel output (B, 2, H, W) comes
  back complex (B, 1, H, W);
* ``"fastmri"``: fastMRI's ``model(masked_kspace, mask, num_low_frequencies)`` with k-space as
  (B, coils, H, W, 2) real and the column mask (1, 1, 1, W, 1);
* a callable ``inputs(y, A) -> tuple`` for anything else.

``complex_as_channels=True`` converts complex tensors to real/imaginary channels (B, 2C, ...) on the
way in and a (B, 2C, H, W) output back to complex (B, C, H, W), for models trained that way.

The user's model is only read: :func:`frozen` puts it in eval mode with gradients off for its
parameters and restores train/eval flags, ``requires_grad``, buffers and the global random generators exactly
afterwards. Batches above ``max_batch``, or that run out of memory, are evaluated in chunks (:mod:`.memory`).
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from .errors import StabilityWarning as StabilityWarning  # re-exported: pytest_stability.models.StabilityWarning
from .memory import is_out_of_memory, split_batch
from .operators import LinearOperator, OperatorError, as_operator, for_images
from .operators.base import real_dtype
from .operators.deepinv import deepinv_physics, to_deepinv, uses_two_channels

INPUT_MODES = ("naive", "y", "y,mask", "y,operator", "deepinv", "fastmri")


class ModelError(RuntimeError):
    """The model under test raised, or returned something that is not an image batch.

    When the model's own exception (the ``__cause__``) shows a mismatch of conventions (numpy code handed
    tensors, a real network handed complex images), the message ends with the setting that fixes it.
    """

    def __str__(self) -> str:
        hint = _hint(self.__cause__)
        return f"{super().__str__()}\n{hint}" if hint else super().__str__()


def _hint(cause: BaseException | None) -> str | None:
    """The Case setting that fixes a model's exception, when the exception shows which."""
    if isinstance(cause, OperatorError):  # the operator inside the model (a CS baseline) raised: its message says
        return None
    text = str(cause)
    if "numpy()" in text or "convert cuda" in text.lower():
        return ("The model calls numpy on its input: hand it numpy arrays with Case(..., numpy=True) (the search is "
                "then gradient-free), or keep it in torch.")
    if re.search(r"complex(64|128)|Complex(Float|Double)|c10::complex", text):
        return ("The model was given complex input (A.naive(y) and k-space are complex): for a network on real and "
                "imaginary channels give Case(..., complex_as_channels=True); for a magnitude network wrap it, "
                "e.g. Case(lambda z: model(z.abs()), ...).")
    return None


@contextlib.contextmanager
def rng_preserved() -> Iterator[None]:
    """Leave the global random number generators as they were: torch's CPU (and initialised CUDA) generators,
    numpy's legacy global state and Python's ``random``. A model that draws noise in its forward pass (or a
    check that draws with the global generators) must not change the random stream of the user's tests."""
    import random

    cpu, py, legacy = torch.random.get_rng_state(), random.getstate(), np.random.get_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        torch.random.set_rng_state(cpu)
        random.setstate(py)
        np.random.set_state(legacy)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


@contextlib.contextmanager
def frozen(model: Any) -> Iterator[None]:
    """Use ``model`` read-only: eval mode, no gradients for its parameters, state restored bitwise after.

    Restores every submodule's training flag, every parameter's ``requires_grad``, every buffer's values (a
    model may update buffers in its forward pass, e.g. BatchNorm's running statistics or a call counter) and
    the global random generators (:func:`rng_preserved`); parameters and their ``.grad`` are never written
    (gradients are taken with respect to the perturbation only).
    """
    with rng_preserved():
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


def _check_model(model: Any) -> None:
    """Refuse what cannot be the model under test: a class, a non-callable, weights on no or several devices."""
    if isinstance(model, type):
        raise TypeError(f"the model is the class {model.__name__}, not an instance: pass {model.__name__}(...) "
                        "with its trained weights loaded.")
    if not callable(model):
        shown = f" {model!r}" if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__") else ""
        raise TypeError(f"the model must be an nn.Module or a callable, got {type(model).__name__}{shown}; load the "
                        "network first (e.g. torch.load(path, weights_only=False), or build it and "
                        "load_state_dict).")
    if not isinstance(model, torch.nn.Module):
        return
    devices = sorted({str(t.device) for t in (*model.parameters(), *model.buffers())})
    if len(devices) > 1:
        raise ValueError(f"the model's parameters are on several devices ({', '.join(devices)}); move it to one "
                         "with model.to(device) (the measurements go to its device).")
    if devices == ["meta"]:
        raise ValueError("the model's parameters are on the meta device: they hold no values (the model was "
                         "built without weights, e.g. under torch.device('meta')); materialise them with "
                         "model.to_empty(device='cpu') and load_state_dict(...) before the test.")


def _to_channels(t: Any) -> Any:
    if isinstance(t, torch.Tensor) and t.is_complex():
        return torch.cat([t.real, t.imag], dim=1)
    return t


def _low_frequency_columns(columns: torch.Tensor) -> int:
    """Width of the contiguous run of sampled columns through the k-space centre W // 2 (0 if it is unsampled)."""
    sampled = columns.bool().long()
    centre = sampled.numel() // 2
    left = int(torch.cumprod(sampled[:centre + 1].flip(0), 0).sum())
    right = int(torch.cumprod(sampled[centre:], 0).sum())
    return max(left + right - 1, 0)


class Reconstructor:
    """f: y ↦ x̂ for a user's model and the operator it reconstructs from; see the module docstring.

    ``device`` and ``dtype`` default to those of the model's first parameter (CPU, float32 for
    callables without parameters); measurements are moved there before the model sees them.
    ``numpy=True`` hands the model numpy arrays (for ONNX runtime or numpy code); such a model has no
    gradient, and the worst-case search then falls back to a gradient-free method. ``max_batch``: the most
    inputs one model call carries (larger batches run in chunks; see :mod:`pytest_stability.memory`).
    """

    def __init__(self, model: Any, operator: Any, *, inputs: str | Callable = "naive",
                 complex_as_channels: bool = False, numpy: bool = False, name: str | None = None,
                 device: torch.device | str | None = None, image_shape: tuple[int, int] | None = None,
                 max_batch: int | None = None):
        _check_model(model)
        if not callable(inputs) and inputs not in INPUT_MODES:
            close = difflib.get_close_matches(str(inputs), INPUT_MODES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "."
            raise ValueError(f"inputs={inputs!r} is not one of {', '.join(INPUT_MODES)} or a callable (y, A) -> "
                             f"args{hint}")
        self.model = model
        self.operator: LinearOperator = as_operator(operator, image_shape)
        self.inputs = inputs
        self.complex_as_channels = complex_as_channels
        self.numpy = numpy
        if max_batch is not None and (isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1):
            raise ValueError(f"max_batch must be a whole number >= 1 (the most inputs per model call) or None, got "
                             f"{max_batch!r}.")
        self.max_batch = max_batch
        self._fits: int | None = None
        self._physics: dict[tuple[torch.device, torch.dtype], Any] = {}
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
        elif self.inputs == "deepinv":
            key = (y.device, real_dtype(y.dtype))
            if key not in self._physics:
                self._physics[key] = deepinv_physics(self.operator, y)
            args = (to_deepinv(self.operator, y), self._physics[key])
        else:
            args = self._fastmri_inputs(y)
        if self.complex_as_channels:
            args = tuple(_to_channels(a) for a in args)
        if self.numpy:
            args = tuple(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a for a in args)
        return args

    def _fastmri_inputs(self, y: torch.Tensor) -> tuple:
        """fastMRI's VarNet call: k-space (B, coils, H, W, 2) real, the column mask (1, 1, 1, W, 1) bool and
        num_low_frequencies, the ACS lines as the mask function reported them (``operator.low_frequencies``;
        fastMRI's VarNetDataTransform passes its mask function's count), else the contiguous sampled run
        through the centre column."""
        mask = self._mask(y)[0, 0]
        if not bool((mask == mask[:1]).all()):
            raise ValueError("inputs='fastmri' needs a Cartesian mask of full columns (phase-encode lines along "
                             "the last axis); this mask varies along the rows.")
        columns = mask[0]
        low = getattr(self.operator, "low_frequencies", None)
        low = _low_frequency_columns(columns) if low is None else int(low)
        return torch.view_as_real(y), columns.bool().view(1, 1, 1, -1, 1), low

    # -- the reconstruction ----------------------------------------------------------------------
    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """x̂ = f(y), (B, C, H, W), on the model's device; errors name what the model did wrong.

        A batch larger than ``max_batch``, or one the model runs out of memory on, is evaluated in chunks
        (:func:`~pytest_stability.memory.split_batch`); gradients flow through the chunks alike.
        """
        y = y.to(self.device)
        limits = [n for n in (self.max_batch, self._fits) if n is not None]
        whole = slice(0, y.shape[0])
        return split_batch(lambda s: (self if s == whole else self.for_images(s))._evaluate(y[s]), y.shape[0],
                           torch.cat, limit=min(limits, default=None), what=f"model {self.name!r}",
                           remember=self._remember)

    def for_images(self, index: slice | Sequence[int] | torch.Tensor) -> Reconstructor:
        """This reconstruction for images ``index`` of the batch its operator measures: per-image coil maps follow
        their images (:func:`~pytest_stability.operators.for_images`); an operator the same for every image
        leaves it as is."""
        operator = for_images(self.operator, index)
        return self if operator is self.operator else self.with_operator(operator)

    def _remember(self, size: int) -> None:
        """The batch size the model fitted in after running out of memory: later calls start there."""
        self._fits = size

    def _evaluate(self, y: torch.Tensor) -> torch.Tensor:
        args = self.model_inputs(y)
        try:
            out = self.model(*args)
        except Exception as exc:  # any failure inside user code is reported as the model's
            if is_out_of_memory(exc):
                raise
            raise ModelError(f"model {self.name!r} raised {type(exc).__name__}: {exc}") from exc
        return self._check_output(out, y.shape[0])

    def _check_output(self, out: Any, batch: int) -> torch.Tensor:
        if isinstance(out, np.ndarray):
            out = torch.from_numpy(out).to(self.device)
        if not isinstance(out, torch.Tensor):
            raise ModelError(self._not_a_tensor(out))
        if not (out.is_floating_point() or out.is_complex()):
            raise ModelError(f"model {self.name!r} returned {out.dtype} images; reconstructions must be floating "
                             "point (or complex): drop the rounding or cast with .float().")
        if out.is_complex() and not self.complex_as_channels and not self.operator.domain_is_complex:
            raise ModelError(f"model {self.name!r} returned {str(out.dtype).replace('torch.', '')} images, but "
                             f"{type(self.operator).__name__} reconstructs real images; return x.real (or x.abs()).")
        if out.dim() == 3:
            out = out.unsqueeze(1)
        deepinv = self.inputs == "deepinv" and uses_two_channels(self.operator)
        if (self.complex_as_channels or deepinv) and not out.is_complex():
            if out.dim() != 4 or out.shape[1] % 2:
                how = "in deepinv's convention" if deepinv else "with complex_as_channels"
                raise ModelError(f"model {self.name!r} returned shape {tuple(out.shape)}; {how} the output must be "
                                 "(B, 2C, H, W) real/imaginary channels.")
            half = out.shape[1] // 2
            out = torch.complex(out[:, :half], out[:, half:])
        if out.dim() != 4 or out.shape[0] != batch or tuple(out.shape[-2:]) != self.operator.image_shape:
            raise ModelError(f"model {self.name!r} returned shape {tuple(out.shape)}; expected ({batch}, C, "
                             f"{self.operator.image_shape[0]}, {self.operator.image_shape[1]}) images.")
        return out

    def _not_a_tensor(self, out: Any) -> str:
        """What to say when the model returned ``out``, which is not a tensor."""
        start = f"model {self.name!r} returned"
        if out is None:
            return f"{start} None; does its forward end with a return? It must return the images (B, C, H, W)."
        if isinstance(out, (tuple, list)):
            return (f"{start} a {type(out).__name__} of {len(out)}, not a tensor; if the images are its first "
                    "element, wrap the model: Case(lambda z: model(z)[0], ...).")
        if isinstance(out, dict):
            key = next((k for k, v in out.items() if isinstance(v, torch.Tensor)), "<key>")
            return (f"{start} a dict with keys {list(out)}, not a tensor; wrap the model to return the images, "
                    f"e.g. Case(lambda z: model(z)[{key!r}], ...).")
        return (f"{start} a {type(out).__name__}, not a tensor; wrap it so it returns the reconstructed images "
                "(B, C, H, W).")

    def with_operator(self, operator: Any) -> Reconstructor:
        """The same model and input conventions for another operator (e.g. another sampling ratio).

        A model bound to its operator (such as the CS baselines) can offer ``model.with_operator(operator)``
        returning its twin for the new operator; that twin is used. Other models are reused as they are.
        """
        model = self.model.with_operator(operator) if hasattr(self.model, "with_operator") else self.model
        return Reconstructor(model, operator, inputs=self.inputs, complex_as_channels=self.complex_as_channels,
                             numpy=self.numpy, name=self.name, device=self.device, max_batch=self.max_batch)

    def measure(self, x: torch.Tensor) -> torch.Tensor:
        """y = A x for images on the model's device and precision."""
        return self.operator.forward(x.to(self.device))

    def __repr__(self) -> str:
        return f"Reconstructor({self.name!r}, inputs={self.inputs!r}, operator={self.operator!r})"


def check_clean_output(f: Reconstructor, out: torch.Tensor, x: torch.Tensor, where: str = "") -> None:
    """Refuse a reconstruction f(Ax) of clean data that has NaN or Inf or another channel count than x."""
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        raise ModelError(f"model {f.name!r} returns NaN or Inf on the unperturbed input f(Ax){where}; the stability "
                         "test needs a finite reconstruction of clean data. Check the input scaling.")
    if out.shape[1] != x.shape[1]:
        raise ModelError(f"model {f.name!r} returned {out.shape[1]} channels for images with {x.shape[1]} "
                         f"(shape {tuple(out.shape)} for {tuple(x.shape)}); return one reconstruction per image "
                         "channel.")


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
