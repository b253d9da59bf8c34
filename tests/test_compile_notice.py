"""A program that uses tinycnn as a library hears once, on stderr, that its kernels are compiling (tinycnn/compile.py's
library_notice), and how long that took; never on a warm cache, never when switched off, never twice with a script's
compiling_notice(). Each run is a new Python with a cache of its own that compiles the two small naive ReLU kernels."""

import os
import subprocess
import sys

from tinycnn.compile import LIBRARY_ESTIMATE, NOTICE, NOTICE_SWITCH, QUIET_SECONDS

FIRST_WORDS = NOTICE.split(":")[0]
TOOK = "compiled in "

# Each argument is a step: "forward" and "backward" compile (or load) one naive ReLU kernel each, "own" an njit
# function of the program's, "pause" waits until the notice's burst has ended, "off" is set_notice(False),
# "block" runs the next step inside the scripts' compiling_notice().
PROGRAM = f"""
import sys, threading, time
import numba
import numpy as np
import tinycnn
from tinycnn.compile import compiling_notice, set_notice
from tinycnn.kernels.relu import relu_backward_naive, relu_forward_naive

x = np.linspace(-1, 1, 5, dtype=np.float32)
steps = {{
    "forward": lambda: relu_forward_naive(x),
    "backward": lambda: relu_backward_naive(x, x),
    "own": lambda: numba.njit(lambda a: a + 1)(1.0),
    "pause": lambda: time.sleep({QUIET_SECONDS} + 1.5),
    "off": lambda: set_notice(False),
}}
arguments = iter(sys.argv[1:])
for step in arguments:
    if step == "block":
        with compiling_notice():
            steps[next(arguments)]()
    else:
        steps[step]()
    print("step", step, "threads", threading.active_count(), file=sys.stderr, flush=True)
print("ran", " ".join(sys.argv[1:]))
"""


def run(cache, *steps, **environment):
    env = {name: value for name, value in os.environ.items() if name != NOTICE_SWITCH}
    result = subprocess.run([sys.executable, "-c", PROGRAM, *steps], capture_output=True, text=True, timeout=300,
                            env=dict(env, NUMBA_CACHE_DIR=str(cache), **environment))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "ran " + " ".join(steps)
    return result


def test_a_cold_cache_says_so_once_on_stderr_and_a_warm_one_says_nothing(tmp_path):
    cold = run(tmp_path, "forward", "backward")
    assert cold.stderr.count(FIRST_WORDS) == 1 and cold.stderr.count(TOOK) == 1
    assert f"about {LIBRARY_ESTIMATE} on a 2-core machine" in cold.stderr  # a first run: nothing of tinycnn's in the cache
    assert cold.stderr.index(FIRST_WORDS) < cold.stderr.index("step forward")  # before the call returned
    assert FIRST_WORDS not in cold.stdout and TOOK not in cold.stdout
    warm = run(tmp_path, "forward", "backward")
    assert FIRST_WORDS not in warm.stderr + warm.stdout and TOOK not in warm.stderr + warm.stdout


def test_a_later_compile_says_it_takes_a_few_seconds(tmp_path):
    """The forward in the cache already: this is a kernel new to this machine (or an edited file), not a first
    run."""
    run(tmp_path, "forward")
    later = run(tmp_path, "backward")
    assert later.stderr.count(FIRST_WORDS) == 1 and "a few seconds" in later.stderr


def test_the_second_line_comes_when_the_compiles_stop_and_then_nothing_more(tmp_path):
    """The forward compiles; in the pause the second line comes and the notice's thread ends; the backward
    compiles after it, in silence."""
    result = run(tmp_path, "forward", "pause", "backward")
    stderr = result.stderr
    assert stderr.count(FIRST_WORDS) == 1 and stderr.count(TOOK) == 1
    assert stderr.index(FIRST_WORDS) < stderr.index("step forward threads 2") < stderr.index(TOOK) \
        < stderr.index("step pause threads 1") < stderr.index("step backward threads 1")


def test_switched_off_by_the_environment_or_from_code_it_says_nothing(tmp_path):
    for steps, environment, cache in [(("forward",), {NOTICE_SWITCH: "0"}, tmp_path / "environment"),
                                      (("off", "forward"), {}, tmp_path / "code")]:
        result = run(cache, *steps, **environment)
        assert FIRST_WORDS not in result.stderr + result.stdout and TOOK not in result.stderr + result.stdout
        assert list(cache.rglob("*.nbi")), "the kernel did compile into this cache"


def test_a_scripts_notice_prints_instead_and_the_line_comes_once(tmp_path):
    """compiling_notice() (the experiment scripts') prints the line on stdout; a compile after its block is quiet."""
    result = run(tmp_path, "block", "forward", "backward")
    assert result.stdout.count(FIRST_WORDS) == 1 and result.stdout.count(TOOK) == 1
    assert FIRST_WORDS not in result.stderr and TOOK not in result.stderr


def test_a_programs_own_numba_function_is_not_announced(tmp_path):
    result = run(tmp_path, "own")
    assert FIRST_WORDS not in result.stderr + result.stdout
