"""The map a search ascends: a perturbation z ↦ the reconstruction of the perturbed images, batched."""

from __future__ import annotations

from typing import Any

import torch

from ..metrics import l2_norm
from ..models import Reconstructor, check_clean_output
from ..names import DOMAINS


class PerturbationMap:
    """z ↦ f(A(x + z)) (image domain) or z ↦ f(y + Pz) (measurement domain) for a batch of images.

    Holds the clean measurements y = Ax, the reference f(Ax), the norm each budget is relative to (‖x‖ or
    ‖y‖) and counts the model's forward and backward passes (batched calls and images).
    """

    def __init__(self, f: Reconstructor, x: torch.Tensor, domain: str):
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}.")
        self.f, self.A, self.domain = f, f.operator, domain
        self.x = x
        self.counts = {"forward": 0, "backward": 0, "forward_images": 0, "backward_images": 0}
        self.forward_ad = True  # set False once the model turns out to lack forward-mode AD
        with torch.no_grad():
            self.y = self.A.forward(x)
        # the reference f(Ax), evaluated through a zero perturbation that asks for a gradient: whether the output
        # then carries one tells if the model is differentiable, at no extra forward pass
        zero = torch.zeros_like(self.template()).requires_grad_(True)
        with torch.enable_grad():
            out = self.evaluate(zero, torch.arange(x.shape[0]))
        self.differentiable = out.requires_grad
        self.reference = out.detach()
        check_clean_output(f, self.reference, x)
        self.scale = l2_norm(x if domain == "image" else self.y)
        if bool((self.scale == 0).any()):
            raise ValueError(f"image(s) {torch.nonzero(self.scale == 0).flatten().tolist()} have "
                             f"{'‖x‖' if domain == 'image' else '‖Ax‖'} = 0 (constant zero); a relative budget "
                             "eps·‖x‖ is empty for them. Use images with content.")

    @property
    def batch(self) -> int:
        return self.x.shape[0]

    def subset(self, images: slice) -> PerturbationMap:
        """The same map for a slice of the images, without evaluating f(Ax) again; counts are shared (per-image
        coil maps follow their images)."""
        sub = object.__new__(PerturbationMap)
        sub.__dict__.update(self.__dict__)
        sub.x, sub.y, sub.reference, sub.scale = (t[images] for t in (self.x, self.y, self.reference, self.scale))
        sub.f = self.f.for_images(images)
        sub.A = sub.f.operator
        return sub

    def template(self) -> torch.Tensor:
        """The space the perturbation lives in: images x, or measurements y."""
        return self.x if self.domain == "image" else self.y

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """Keep measurement-domain perturbations in the measurement space (sampled entries only)."""
        return z if self.domain == "image" else self.A.project(z)

    def evaluate(self, z: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """f for perturbations z (n, ...) of the base images ``index`` (n,), each measured and reconstructed with
        its own image's operator (per-image coil maps)."""
        self.counts["forward"] += 1
        self.counts["forward_images"] += z.shape[0]
        f = self.f.for_images(index)
        if self.domain == "image":
            return f(f.operator.forward(self.x[index] + z))
        return f(self.y[index] + z)

    def gradient(self, objective: torch.Tensor, z: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """∂ objective / ∂ z by one backward pass, projected onto the perturbation space."""
        self.counts["backward"] += 1
        self.counts["backward_images"] += z.shape[0]
        (g,) = torch.autograd.grad(objective, z, **kwargs)
        return self.project(g)

    def change(self, out: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """‖f(·) − f(Ax)‖ per element."""
        return l2_norm(out - self.reference[index])
