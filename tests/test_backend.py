"""The one switch between the kernel sets (tinycnn/backend.py): a model trains on the reference kernels as on the
fast ones, fusion is off there, and an edit to a naive kernel shows in a reference run and only there."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinycnn
import tinycnn.functional as F
from tinycnn import Tensor, backend, nn, optim
from tinycnn.fusion import Pending

REPO = Path(__file__).resolve().parents[1]


class SmallNet(nn.Module):
    """Every op the study's models use, and BatchNorm and dropout: conv -> ReLU -> pool twice, linear, log-softmax."""

    def __init__(self, generator):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, generator=generator)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1, generator=generator)
        self.fc = nn.Linear(6 * 2 * 2, 10, generator=generator)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 3)
        x = F.dropout(F.flatten(x), 0.1, training=self.training, generator=np.random.default_rng(7))
        return F.log_softmax(self.fc(x), dim=1)


def train_losses(kernel_set, dtype, steps=4):
    """The losses of a few Adam steps of SmallNet on one fixed batch, every op on ``kernel_set``'s kernels."""
    rng = np.random.default_rng(0)
    images = np.repeat(rng.standard_normal((1, 8, 1, 14, 14)).astype(dtype), steps, axis=0)
    labels = np.repeat(rng.integers(0, 10, (1, 8)), steps, axis=0)
    model = SmallNet(np.random.default_rng(1)).to(dtype)
    optimizer = optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    losses = []
    with backend.use(kernel_set):
        for x, y in zip(images, labels):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(Tensor(x)), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return np.array(losses)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_a_model_trains_alike_on_the_reference_and_the_fast_kernels(dtype, tolerance):
    fast, reference = train_losses("fast", dtype), train_losses("reference", dtype)
    assert backend.mode() == "fast"  # the block put the caller's set back
    np.testing.assert_allclose(reference, fast, rtol=tolerance, atol=tolerance)
    assert fast[-1] < fast[0]


def test_the_reference_set_runs_each_op_on_its_own():
    """Fusion is off with the reference kernels: F.conv2d computes at once, and a ReLU and a pool are their own
    nodes; with the fast kernels (the default) the conv waits for them."""
    x = Tensor(np.ones((1, 1, 6, 6), dtype=np.float32))
    w = Tensor(np.ones((2, 1, 3, 3), dtype=np.float32), requires_grad=True)
    assert isinstance(F.conv2d(x, w), Pending)
    with backend.use("reference"):
        out = F.conv2d(x, w)
        assert not isinstance(out, Pending) and not tinycnn.fusion.is_enabled()
        assert backend.kernels("conv2d")[0].__name__ == "_conv2d_forward_reference"
        assert backend.kernels("relu")[0].__name__ == "relu_forward_naive"


def test_a_pending_conv_made_with_the_fast_kernels_runs_on_them_when_read_later():
    x = Tensor(np.random.default_rng(0).standard_normal((2, 1, 6, 6)))
    w = Tensor(np.random.default_rng(1).standard_normal((2, 1, 3, 3)), requires_grad=True)
    fused = F.max_pool2d(F.relu(F.conv2d(x, w)), 2)  # a Pending: conv + ReLU + pool, not run yet
    with backend.use("reference"):
        value = fused.data  # still the fused fast kernel: the reference conv takes no ReLU or pool
        fused.sum().backward()
    with backend.use("reference"):
        expected = F.max_pool2d(F.relu(F.conv2d(x, Tensor(w.data))), 2).data
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert w.grad is not None


def test_a_pool_too_large_for_a_one_byte_winner_is_not_fused():
    """The fused conv keeps each window's winner as a place in one byte (k*k < 128): a 12x12 pool runs alone."""
    x = Tensor(np.random.default_rng(0).standard_normal((1, 1, 14, 14)))
    w = Tensor(np.random.default_rng(1).standard_normal((1, 1, 3, 3)), requires_grad=True)
    assert isinstance(F.max_pool2d(F.conv2d(x, w), 11), Pending)
    out = F.max_pool2d(F.conv2d(x, w), 12)
    assert not (isinstance(out, Pending) and out.options.get("pool_kernel"))
    out.sum().backward()
    with backend.use("reference"):
        w_reference = Tensor(w.data, requires_grad=True)
        F.max_pool2d(F.conv2d(x, w_reference), 12).sum().backward()
    np.testing.assert_allclose(w.grad, w_reference.grad, rtol=1e-12)


def test_an_unknown_kernel_set_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="fast, reference"):
        backend.use("naive")
    result = subprocess.run([sys.executable, "-c", "import tinycnn"], capture_output=True, text=True,
                            env=dict(os.environ, TINYCNN_KERNELS="slow"))
    assert result.returncode != 0 and "TINYCNN_KERNELS='slow'" in result.stderr
    assert "one of fast, reference" in result.stderr


def test_an_op_without_kernels_is_named():
    with pytest.raises(KeyError, match="no kernels registered for the op 'leaky'"):
        backend.kernels("leaky")


# A short training run in a subprocess, on a copy of the package, with its own Numba cache.
TRAIN = """
import sys
import numpy as np
import tinycnn.functional as F
from tinycnn import Tensor, nn, optim

rng = np.random.default_rng(0)
model = nn.Sequential(nn.Conv2d(1, 3, 3, generator=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(3 * 4 * 4, 4, generator=rng))
optimizer = optim.SGD(model.parameters(), lr=0.1)
x, y = Tensor(rng.standard_normal((4, 1, 10, 10)).astype(np.float32)), rng.integers(0, 4, 4)
for _ in range(3):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
print(repr(loss.item()))
"""


def final_loss(package_parent, cache, kernel_set):
    result = subprocess.run([sys.executable, "-c", TRAIN], capture_output=True, text=True, timeout=600,
                            cwd=package_parent, env=dict(os.environ, PYTHONPATH=str(package_parent),
                                                         NUMBA_CACHE_DIR=str(cache), TINYCNN_KERNELS=kernel_set))
    assert result.returncode == 0, result.stderr[-3000:]
    return float(result.stdout.strip())


def test_an_edit_to_a_naive_kernel_changes_a_reference_run_and_not_a_fast_one(tmp_path):
    """The learner's loop: change relu_forward_naive into a leaky ReLU, train again on the reference kernels, and
    see the numbers move; the fast kernels, which the edit does not touch, give what they gave."""
    shutil.copytree(REPO / "tinycnn", tmp_path / "tinycnn", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "numba-cache"
    relu = tmp_path / "tinycnn" / "kernels" / "relu.py"
    text = relu.read_text()
    naive_line = "        out[i] = 0.0 if x[i] <= 0 else x[i]  # written so that NaN passes through, as in PyTorch\n"
    assert text.count(naive_line) == 2  # the naive forward's, then the fast forward's
    before = {kernel_set: final_loss(tmp_path, cache, kernel_set) for kernel_set in ("reference", "fast")}
    relu.write_text(text.replace(naive_line, naive_line.replace("0.0 if", "0.5 * x[i] if"), 1))
    after = {kernel_set: final_loss(tmp_path, cache, kernel_set) for kernel_set in ("reference", "fast")}
    assert np.isclose(before["reference"], before["fast"], rtol=1e-5)
    assert not np.isclose(after["reference"], before["reference"], rtol=1e-3)
    assert after["fast"] == before["fast"]
