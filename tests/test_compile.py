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
from tinycnn.compile import start_helper
from tinycnn.kernels.fast.conv2d import conv2d_backward_part
from tinycnn.kernels.fast.conv2d_windows import conv2d_forward_windows_part
from tinycnn.kernels.jit import in_cache
from tinycnn.kernels.fast.threads import _run_parts
assert not in_cache(conv2d_backward_part)
helper = start_helper(np.float32)
print("helper", type(helper).__name__, "exit", helper.wait())
print("in cache", in_cache(conv2d_backward_part), in_cache(conv2d_forward_windows_part), in_cache(_run_parts))
"""


def test_the_helper_process_compiles_its_half_into_the_cache(tmp_path):
    """The helper (forked on Linux) compiles without running anything, exits 0, and the parent then finds its
    kernels in the cache."""
    result = subprocess.run([sys.executable, "-c", HELPER_FILLS_THE_CACHE], capture_output=True, text=True,
                            env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "exit 0" in result.stdout and "in cache True True True" in result.stdout


A_HELPER_THAT_FAILS = """
import threading
import numpy as np
import tinycnn.compile as compile_module

def fail(dtype):
    raise RuntimeError("the helper's own error")

compile_module.compile_backward = fail  # what the forked child runs
helper = compile_module.start_helper(np.float32)
print("forked", type(helper).__name__, "exit", helper.wait())
helper.report_failure()
helper.report_failure()  # once only
stop = threading.Event()
threading.Thread(target=stop.wait).start()
helper = compile_module.start_helper(np.float32)  # another thread runs: a new process, not a fork
print("with a thread", type(helper).__name__)
helper.kill()
helper.report_failure()  # killed by us: nothing to report
stop.set()
"""


def test_a_failed_helper_is_reported_and_none_is_forked_beside_other_threads(tmp_path):
    result = subprocess.run([sys.executable, "-c", A_HELPER_THAT_FAILS], capture_output=True, text=True,
                            env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "forked _ForkedHelper exit 1" in result.stdout and "with a thread _HelperProcess" in result.stdout
    assert result.stderr.count("the helper process that compiles half of the kernels") == 1
    assert "RuntimeError: the helper's own error" in result.stderr
