"""pytest-stability: test image-reconstruction networks for the instabilities of Antun et al. (PNAS 2020).

The public API (one page; see docs/api.md):

* writing a test: :data:`stable` (the marker), :class:`Case` (what a test returns);
* the checks as plain functions: :func:`worst_case`, :func:`structural`, :func:`sample_sweep`, :func:`fuzz`
  → :class:`CheckResult`; :class:`FuzzJudge` for ``@given`` tests (strategies: :mod:`pytest_stability.strategies`);
* the search: :class:`PerturbationSearch` → :class:`SearchResult`; models: :class:`Reconstructor`;
* operators: :class:`SingleCoilMRI`, :class:`MultiCoilMRI`, :class:`ParallelBeamRadon`, :func:`as_operator`,
  nested families :func:`mri_family`, :func:`radon_family`, :func:`fastmri_family`; masks: :func:`cartesian_mask`,
  :func:`variable_density_mask`, :func:`radial_mask`, :func:`uniform_mask`, :func:`angle_subset`;
* CS baselines :class:`TVReconstruction`, :class:`WaveletReconstruction`; metrics :func:`psnr`, :func:`ssim`,
  :func:`nrmse`; data :func:`shepp_logan`, :func:`random_ellipses`, :func:`load_images`, :func:`make_detail`;
* fastMRI: :func:`load_fastmri`, :func:`write_fastmri`, :func:`estimate_coil_maps`, :class:`FastMRIUnet`.

Importing this package is free: nothing heavy (torch) is loaded until one of these names is used, so the
pytest plugin costs nothing in a test session that does not use it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "stable": "plugin",
    "Case": "case",
    "worst_case": "checks", "structural": "checks", "sample_sweep": "checks", "CheckResult": "checks",
    "fuzz": "checks", "FuzzJudge": "checks",
    "PerturbationSearch": "search", "SearchResult": "search",
    "Reconstructor": "models", "StabilityWarning": "errors", "ModelError": "models",
    "LinearOperator": "operators", "SingleCoilMRI": "operators", "MultiCoilMRI": "operators",
    "ParallelBeamRadon": "operators", "as_operator": "operators",
    "mri_family": "families", "radon_family": "families", "fastmri_family": "families",
    "cartesian_mask": "masks", "variable_density_mask": "masks", "radial_mask": "masks", "uniform_mask": "masks",
    "angle_subset": "masks",
    "TVReconstruction": "baselines", "WaveletReconstruction": "baselines",
    "psnr": "metrics", "ssim": "metrics", "nrmse": "metrics",
    "shepp_logan": "phantoms", "random_ellipses": "phantoms",
    "load_images": "loaders", "make_detail": "details", "DETAIL_NAMES": "names",
    "load_fastmri": "loaders", "write_fastmri": "loaders", "estimate_coil_maps": "sensitivities",
    "FastMRIUnet": "fastmri_unet",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_stability' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pytest_stability.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
