"""NUMBA_DISABLE_JIT=1 runs every kernel as plain Python (the README promises it, for debugging): same results."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = """
import sys
import numpy as np
sys.path.insert(0, {experiments!r})
import tinycnn.functional as F
from tinycnn import Tensor
from models import MinimalNet
rng = np.random.default_rng(0)
model = MinimalNet(generator=rng).to(np.float64)
loss = F.cross_entropy(model(Tensor(rng.standard_normal((3, 1, 28, 28)))), np.array([1, 2, 3]))
loss.backward()
np.save(sys.argv[1], np.concatenate([[loss.item()]] + [p.grad.ravel() for p in model.parameters()]))
"""


@pytest.mark.parametrize("kernel_set", ["fast", "reference"])
def test_plain_python_kernels_give_the_jitted_results(tmp_path, kernel_set):
    """Both kernel sets (tinycnn/backend.py): the reference one is the one to step through, each op its own."""
    script = tmp_path / "step.py"
    script.write_text(SCRIPT.format(experiments=str(REPO / "experiments")))
    results = []
    for disable in ("0", "1"):
        out = tmp_path / f"jit_disabled_{disable}.npy"
        run = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", str(script), str(out)],
                             env=dict(os.environ, NUMBA_DISABLE_JIT=disable, TINYCNN_KERNELS=kernel_set),
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        results.append(np.load(out))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12, atol=1e-15)
