"""Being installed must cost nothing when unused: the plugin module never imports torch."""

import subprocess
import sys


def _imported_modules(statement: str) -> set[str]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True,
                         check=True)
    # each stderr line: "import time: self [us] | cumulative | imported package"
    return {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}


def test_importing_the_plugin_does_not_import_torch():
    modules = _imported_modules("import pytest_stability.plugin")
    assert "pytest_stability.plugin" in modules  # the measurement saw the import
    heavy = {m for m in modules if m.split(".")[0] in {"torch", "numpy", "scipy", "torchvision", "hypothesis"}}
    assert not heavy, f"importing the plugin pulled in {sorted(heavy)[:5]}"


def test_the_public_package_is_lazy_until_a_name_is_used():
    modules = _imported_modules("import pytest_stability; pytest_stability.__version__")
    assert "torch" not in modules
    modules = _imported_modules("import pytest_stability; pytest_stability.psnr")
    assert "torch" in modules
