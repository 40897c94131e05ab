"""The three checks of the paper's stability test, as plain functions returning :class:`CheckResult` objects.

* :func:`worst_case`: tiny worst-case perturbations (instability ratio κ against limits and the CS baseline);
* :func:`structural`: small structural changes (recovery ρ of added details);
* :func:`sample_sweep`: more samples (PSNR as the sampling ratio grows on nested masks);
* :func:`fuzz`: plausible perturbations drawn by hypothesis (noise, motion, k-space faults, details), each judged.
"""

from .fuzz import fuzz
from .fuzz_judge import FuzzJudge
from .result import CheckResult
from .sample_sweep import sample_sweep
from .structural import structural
from .worst_case import worst_case

__all__ = ["CheckResult", "FuzzJudge", "fuzz", "sample_sweep", "structural", "worst_case"]
