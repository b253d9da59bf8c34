"""The project keeps to itself: importing tinycnn changes nothing, the core imports no speed machinery,
and nothing in the repository points outside it."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

MEMORY_SCRIPT = """
import json, os, sys
import numpy as np
from threadpoolctl import threadpool_info

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

environment, threads = dict(os.environ), {i["filepath"]: i["num_threads"] for i in threadpool_info()}
if sys.argv[1] == "import":
    import tinycnn
block = np.ones(256 * 2**20 // 8)  # 256 MB, every page touched
peak = resident_mb()
del block
print(json.dumps({"returned_mb": peak - resident_mb(), "environment_same": dict(os.environ) == environment,
                  "threads_same": all(i["num_threads"] == threads[i["filepath"]]
                                      for i in threadpool_info() if i["filepath"] in threads)}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_importing_tinycnn_leaves_the_process_as_it_found_it(tmp_path):
    script = tmp_path / "memory.py"
    script.write_text(MEMORY_SCRIPT)
    results = {}
    for mode in ("plain", "import"):
        run = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        results[mode] = json.loads(run.stdout)
    assert results["plain"]["returned_mb"] > 200  # glibc gives a freed large block back at once
    assert results["import"]["returned_mb"] > 200, "importing tinycnn changed how freed memory is returned"
    assert results["import"]["environment_same"] and results["import"]["threads_same"]


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_the_autograd_core_imports_no_speed_machinery():
    imports = set(imported_modules(REPO / "tinycnn" / "tensor.py"))
    forbidden = ("tinycnn.fusion", "tinycnn.kernels.fast.threads", "tinycnn.kernels.fast.blas", "threadpoolctl", "numba")
    assert not [name for name in imports if name.startswith(forbidden)], imports


def test_no_file_points_outside_the_repository():
    """A clone holds only the repository: nothing may send a reader to the folder beside it."""
    outside = ("../" + "shared").encode()
    skipped = {".git", ".hypothesis", ".pytest_cache", "__pycache__"}
    offenders = []
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [name for name in subfolders if name not in skipped and not name.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            if path.suffix in (".nbi", ".nbc", ".gz", ".png") or "idx" in path.name:
                continue
            if outside in path.read_bytes():
                offenders.append(str(path.relative_to(REPO)))
    assert not offenders
