"""examples/fashion_mnist.py, a PyTorch script with only its imports changed, runs on a few batches, and a run
killed with SIGKILL and resumed ends with the uninterrupted run's figures.

The suite runs it on the MNIST files in data/ (the same IDX layout; Fashion-MNIST is not in the repository).
"""

import ast
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "fashion_mnist.py"
DATA = ROOT / "data" / "mnist"


def run(tmp_path, *extra, checkpoint="run.pt"):
    command = [sys.executable, str(SCRIPT), "--data", str(DATA), "--epochs", "2", "--limit-batches", "6",
               "--checkpoint", str(tmp_path / checkpoint), *extra]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def test_only_the_imports_name_tinycnn():
    tree = ast.parse(SCRIPT.read_text())
    body = [node for node in tree.body[1:] if not isinstance(node, (ast.Import, ast.ImportFrom))]  # [0]: docstring
    assert "tinycnn" not in "".join(ast.unparse(node) for node in body)


def test_the_script_trains_checkpoints_and_a_killed_run_resumes_to_the_same_figures(tmp_path):
    straight = run(tmp_path, checkpoint="straight.pt")
    assert len(straight) == 3
    assert straight[0].startswith("epoch 1: train loss") and straight[2].startswith("test accuracy")

    killed = tmp_path / "killed.pt"
    command = [sys.executable, str(SCRIPT), "--data", str(DATA), "--epochs", "2", "--limit-batches", "6",
               "--checkpoint", str(killed)]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while not killed.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)  # the checkpoint is written atomically: once it exists, it is whole
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed = run(tmp_path, "--resume", checkpoint="killed.pt")
    assert resumed[0] == f"resumed from {killed} after epoch 1", resumed
    assert resumed[1:] == straight[1:]
