import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

import tinycnn.compile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments"))  # the experiment scripts import their harness by name

# On a cold cache the compile notice would print into the output of whichever test compiles first, and a test that
# checks its stderr would fail; tests that start a Python of their own still get it (tests/test_compile_notice.py).
tinycnn.compile.set_notice(False)

# Kernels compile on first use, so the first example can be slow: no deadline.
# Examples are derandomized so a CI run is repeatable; run with
# --hypothesis-profile=explore for fresh random examples.
settings.register_profile("default", deadline=None, max_examples=25, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("explore", deadline=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("default")
