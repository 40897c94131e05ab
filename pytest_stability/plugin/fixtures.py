"""Fixtures for stability tests: operators, masks, baselines, the searcher, phantoms and details.

Module import costs nothing (pytest and the standard library); torch is imported inside the fixture
bodies. Every fixture is session- or module-scoped and its value is meant to be read, not modified.
Parametrize the operator fixtures with ``indirect=True`` (a dict of keyword arguments), or call the
``make_*`` factory fixtures for several variants in one test module::

    @pytest.mark.parametrize("mri_operator", [{"ratio": 0.15}, {"ratio": 0.33}], indirect=True)
    def test_something(mri_operator): ...

    def test_other(make_radon_operator):
        ct = make_radon_operator(size=128, views=50)
"""

from __future__ import annotations

from typing import Any

import pytest

from .session import SESSION

__all__ = ["ellipse_images", "load_images", "make_baseline", "make_detail", "make_family", "make_fuzz_judge",
           "make_mri_operator", "make_radon_operator", "mri_operator", "multicoil_operator", "radon_operator",
           "searcher", "shepp_logan_images", "stability_device", "stability_seed"]


def _params(request: pytest.FixtureRequest) -> dict[str, Any]:
    param = getattr(request, "param", None) or {}
    if not isinstance(param, dict):
        raise TypeError(f"parametrize {request.fixturename} with dicts of keyword arguments (indirect=True), got "
                        f"{param!r}.")
    return param


@pytest.fixture(scope="session")
def stability_device(pytestconfig: pytest.Config) -> Any:
    """The torch device of this run (``--stability-device``; one GPU per xdist worker), CPU by default."""
    import torch

    return torch.device(pytestconfig.stash[SESSION].worker_device() or "cpu")


@pytest.fixture(scope="session")
def stability_seed(pytestconfig: pytest.Config) -> int:
    """The run's seed (``--stability-seed``, default 0)."""
    return pytestconfig.stash[SESSION].seed


@pytest.fixture(scope="session")
def make_mri_operator() -> Any:
    """Factory: ``make_mri_operator(size=128, ratio=0.25, pattern="variable-density", seed=0, n_coils=None)``.

    A single-coil MRI operator (multi-coil with ``n_coils``, simulated smooth coil maps) on a nested mask.
    """
    from ..families import mri_family

    def make(size: int | tuple[int, int] = 128, ratio: float = 0.25, pattern: str = "variable-density",
             seed: int = 0, n_coils: int | None = None, **mask_kwargs: Any) -> Any:
        shape = (size, size) if isinstance(size, int) else tuple(size)
        return mri_family(shape, pattern=pattern, seed=seed, n_coils=n_coils, **mask_kwargs)(ratio)

    return make


@pytest.fixture(scope="session")
def make_radon_operator() -> Any:
    """Factory: ``make_radon_operator(size=128, views=50)``: parallel-beam CT at ``views`` equispaced angles."""
    from ..operators import ParallelBeamRadon

    def make(size: int | tuple[int, int] = 128, views: Any = 50, **kwargs: Any) -> Any:
        return ParallelBeamRadon(size, views, **kwargs)

    return make


@pytest.fixture(scope="module")
def mri_operator(request: pytest.FixtureRequest, make_mri_operator: Any) -> Any:
    """Single-coil MRI, 128², 25 % variable-density mask (override with indirect parametrization)."""
    return make_mri_operator(**_params(request))


@pytest.fixture(scope="module")
def multicoil_operator(request: pytest.FixtureRequest, make_mri_operator: Any) -> Any:
    """Multi-coil MRI, 128², 8 simulated coils, 15 % Cartesian lines (the paper's MRI-VN setting, smaller)."""
    return make_mri_operator(**{"ratio": 0.15, "pattern": "cartesian", "n_coils": 8, **_params(request)})


@pytest.fixture(scope="module")
def radon_operator(request: pytest.FixtureRequest, make_radon_operator: Any) -> Any:
    """Parallel-beam CT, 128², 50 equispaced views (the paper's Ell 50 / Med 50 setting, smaller)."""
    return make_radon_operator(**_params(request))


@pytest.fixture(scope="session")
def make_family() -> Any:
    """Factory of nested operator families for the samples check: ``make_family("mri", (128, 128), ...)`` or
    ``make_family("ct", 128, n_candidates=360)``."""
    from ..families import mri_family, radon_family

    def make(kind: str, shape: Any, **kwargs: Any) -> Any:
        if kind == "mri":
            return mri_family(shape if isinstance(shape, tuple) else (shape, shape), **kwargs)
        if kind == "ct":
            return radon_family(shape, **kwargs)
        raise ValueError(f"kind must be 'mri' or 'ct', got {kind!r}.")

    return make


@pytest.fixture(scope="session")
def make_baseline() -> Any:
    """Factory: ``make_baseline(operator, kind="tv", **solver_kwargs)``: a CS reconstruction y ↦ x (nn.Module)."""
    from ..baselines import TVReconstruction, WaveletReconstruction

    def make(operator: Any, kind: str = "tv", **kwargs: Any) -> Any:
        solvers = {"tv": TVReconstruction, "wavelet": WaveletReconstruction}
        if kind not in solvers:
            raise ValueError(f"kind must be one of {sorted(solvers)}, got {kind!r}.")
        return solvers[kind](operator, **kwargs)

    return make


@pytest.fixture(scope="session")
def searcher(stability_seed: int) -> Any:
    """A :class:`~pytest_stability.search.PerturbationSearch` seeded with the run's seed (eps 0.02, 40 steps)."""
    from ..search import PerturbationSearch

    return PerturbationSearch(seed=stability_seed)


@pytest.fixture(scope="module")
def shepp_logan_images(request: pytest.FixtureRequest) -> Any:
    """The modified Shepp–Logan phantom, (1, 1, 128, 128) in [0, 1]; parametrize {"size": ...}."""
    from ..phantoms import shepp_logan

    return shepp_logan(**{"size": 128, **_params(request)})


@pytest.fixture(scope="module")
def ellipse_images(request: pytest.FixtureRequest, stability_seed: int) -> Any:
    """Four random-ellipse images, (4, 1, 128, 128) in [0, 1]; parametrize {"n": ..., "size": ..., "seed": ...}."""
    from ..phantoms import random_ellipses

    return random_ellipses(**{"n": 4, "size": 128, "seed": stability_seed, **_params(request)})


@pytest.fixture(scope="session")
def make_detail() -> Any:
    """Factory: ``make_detail(name, image_shape, size=None, center=(0.5, 0.5))``: a structural detail."""
    from ..details import make_detail as make

    return make


@pytest.fixture(scope="session")
def make_fuzz_judge() -> Any:
    """Factory: ``make_fuzz_judge(model, operator, images, *, max_ratio=None, baseline_factor=2.0, baseline="tv",
    min_recovery=0.5, **reconstructor_kwargs)``: a :class:`~pytest_stability.checks.FuzzJudge` for ``@given``
    tests. Build the judge in a module- or session-scoped fixture and call ``judge(perturbation)`` in the test."""
    from ..checks import FuzzJudge

    def make(model: Any, operator: Any, images: Any, **kwargs: Any) -> Any:
        return FuzzJudge(model, images, operator, **kwargs)

    return make


@pytest.fixture(scope="session")
def load_images(pytestconfig: pytest.Config) -> Any:
    """Factory: ``load_images(pattern, size=None)``: validation images from a folder or glob, normalised."""
    from ..loaders import load_images as load

    def read(pattern: str, size: tuple[int, int] | None = None) -> Any:
        return load(pattern, root=pytestconfig.rootpath, size=size)

    return read
