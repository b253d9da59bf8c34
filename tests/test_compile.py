"""python -m tinycnn.compile: the report runs (no timing asserted), and the compile notice shows only when compiling."""

import os
import subprocess
import sys

from tinycnn.compile import NOTICE

FIRST_WORDS = NOTICE.split(":")[0]


def run(args, cache):
    return subprocess.run([sys.executable, "-m", "tinycnn.compile"] + args, capture_output=True, text=True,
                          env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)), timeout=900)


def test_the_report_lists_what_compiled(tmp_path):
    result = run(["--report", "--model", "small"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "kernels.linear.linear_forward" in result.stdout and "signatures" in result.stdout
    assert "data.augment.augment_part" in result.stdout and "all " in result.stdout
    assert not list(tmp_path.rglob("*.nb*"))  # its own temporary cache: nothing compiled into the one given


def test_the_notice_shows_on_a_cold_cache_and_not_on_a_warm_one(tmp_path):
    cold = run(["--model", "small"], tmp_path)
    assert cold.returncode == 0, cold.stderr[-3000:]
    assert cold.stdout.count(FIRST_WORDS) == 1 and "compiled in" in cold.stdout
    warm = run(["--model", "small"], tmp_path)
    assert warm.returncode == 0 and FIRST_WORDS not in warm.stdout and "compiled in" not in warm.stdout


def test_clear_makes_the_kernels_compile_again(tmp_path):
    assert run(["--model", "small"], tmp_path).returncode == 0
    cleared = run(["--clear"], tmp_path)
    assert cleared.returncode == 0 and "cleared Numba's cache of" in cleared.stdout
    again = run(["--model", "small"], tmp_path)
    assert again.returncode == 0 and again.stdout.count(FIRST_WORDS) == 1


HELPER_FILLS_THE_CACHE = """
import numpy as np
from tinycnn.compile import _in_cache, _start_helper
from tinycnn.kernels.conv2d import conv2d_backward_part
from tinycnn.kernels.conv2d_windows import conv2d_forward_windows_part
from tinycnn.kernels.threads import _run_parts
assert not _in_cache(conv2d_backward_part)
helper = _start_helper(np.float32)
print("helper exit", helper.wait())
print("in cache", _in_cache(conv2d_backward_part), _in_cache(conv2d_forward_windows_part), _in_cache(_run_parts))
"""


def test_the_helper_process_compiles_its_half_into_the_cache(tmp_path):
    """The helper (forked on Linux) compiles without running anything, exits 0, and the parent then finds its
    kernels in the cache."""
    result = subprocess.run([sys.executable, "-c", HELPER_FILLS_THE_CACHE], capture_output=True, text=True,
                            env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "helper exit 0" in result.stdout and "in cache True True True" in result.stdout
