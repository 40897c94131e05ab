"""The vocabulary of the stability test: names of the details, domains, baselines and search modes.

Standard library only, so the pytest plugin can validate markers without importing torch. The checks' names are their
kinds' (:data:`pytest_stability.kinds.CHECKS`).
"""

DETAIL_NAMES = ("spade", "heart", "diamond", "club", "text", "lesion")
DOMAINS = ("image", "measurement")
BASELINES = ("tv", "wavelet")
MODES = ("corrected", "faithful", "gradient-free")
PERTURBATION_KINDS = ("gaussian", "coloured", "bias", "shift", "rotation", "spike", "phase", "coil")
FUZZ_KINDS = (*PERTURBATION_KINDS, "detail")
