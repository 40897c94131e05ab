"""The vocabulary of the stability test: names of the checks, details, domains, baselines and search modes.

Standard library only, so the pytest plugin can validate markers and build test ids without importing torch.
"""

CHECKS = ("worst_case", "structure", "samples", "fuzz")
DETAIL_NAMES = ("spade", "heart", "diamond", "club", "text", "lesion")
DOMAINS = ("image", "measurement")
BASELINES = ("tv", "wavelet")
MODES = ("corrected", "faithful", "gradient-free")
PERTURBATION_KINDS = ("gaussian", "coloured", "bias", "shift", "rotation", "spike", "phase", "coil")
FUZZ_KINDS = (*PERTURBATION_KINDS, "detail")
