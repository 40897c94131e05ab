"""Test-suite settings: one torch thread per xdist worker.

Several workers each running a multi-threaded torch on a 2-core machine oversubscribe the cores, and
OpenMP's spinning threads then slow every operation down many times over (measured here: a 64² check
went from 0.4 s to 100 s).
"""

import os

import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))

# pytester's in-process runs restore sys.modules afterwards, and extension modules cannot be imported twice in
# one process: import what a stability run loads up front, so the inner runs find it already there. The search's
# forward-mode Jacobian products (torch.func) load torch._dynamo, which registers torch libraries (c10d_functional,
# _inductor_test) that refuse a second registration: imported first inside an inner run, they broke every later
# run in that worker (seen when deepinv's tests ran in the same worker).
# The report's plots (matplotlib) likewise: its submodules, imported first inside an inner run and dropped afterwards,
# came back as second copies whose classes the first copies' isinstance checks refuse ("Invalid arguments to
# set_clip_path") in the next test that plotted in this process.
import numpy.fft  # noqa: E402, F401
import torch._dynamo  # noqa: E402, F401

try:
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
except ImportError:  # the report extra is optional: the plots' tests then check the note instead
    pass

import pytest_stability.plugin.runner  # noqa: E402, F401
from pytest_stability.search import load_forward_ad  # noqa: E402

load_forward_ad()  # torch._decomp.decompositions_for_jvp, its FutureWarning silenced as the search does
