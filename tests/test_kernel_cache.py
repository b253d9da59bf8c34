"""An edit to a kernel's file, or to a helper file its code is made from, changes the next run: Numba's disk cache
never hands back machine code built from the files as they were (tinycnn/kernels/jit.py)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from tinycnn.kernels import jit
from tinycnn.kernels.conv2d import conv2d_backward_naive
from tinycnn.kernels.conv2d_im2col import conv2d_forward_im2col
from tinycnn.kernels.fast.conv2d import conv2d_backward_part, conv2d_forward_part
from tinycnn.kernels.fast.threads import _run_parts

REPO = Path(__file__).resolve().parents[1]

# One plain conv through the engine (F.conv2d, no ReLU or pool after it), and which tinycnn kernels compiled.
CONV = """
import numpy as np
import tinycnn.functional as F
from tinycnn import Tensor
from tinycnn.compile import compile_events

x = Tensor(np.linspace(0, 1, 2 * 1 * 6 * 6, dtype=np.float32).reshape(2, 1, 6, 6))
w = Tensor(np.linspace(-1, 1, 3 * 1 * 3 * 3, dtype=np.float32).reshape(3, 1, 3, 3))
with compile_events() as compiled:
    total = float(F.conv2d(x, w).data.sum())
print("sum", repr(total))
print("compiled", " ".join(sorted({r["kernel"].rpartition(".")[2] for r in compiled if r["kernel"].startswith("tinycnn")})))
"""

COPY_TWICE_THE_PIXEL = ("cols[row, oh * OW + ow] = pixels[kw + ow]", "cols[row, oh * OW + ow] = 2 * pixels[kw + ow]")


def run_conv(package_parent, cache):
    result = subprocess.run([sys.executable, "-c", CONV], capture_output=True, text=True, timeout=600,
                            cwd=package_parent, env=dict(os.environ, PYTHONPATH=str(package_parent),
                                                         NUMBA_CACHE_DIR=str(cache)))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    return float(lines["sum"]), set(lines["compiled"].split())


def test_an_edit_to_a_helper_file_recompiles_what_is_built_from_it_and_only_that(tmp_path):
    """The issue's steps, on a copy of the package with a cache of its own: run a conv; double every pixel im2col
    copies; run again (the sum doubles); revert with the file's old text; run again (the first sum is back)."""
    shutil.copytree(REPO / "tinycnn", tmp_path / "tinycnn", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "numba-cache"
    im2col = tmp_path / "tinycnn" / "kernels" / "im2col.py"
    original = im2col.read_text()
    assert original.count(COPY_TWICE_THE_PIXEL[0]) == 1

    first, compiled = run_conv(tmp_path, cache)
    assert {"conv2d_forward_part", "im2col", "gemm", "_run_parts"} <= compiled
    again, compiled = run_conv(tmp_path, cache)
    assert again == first and not compiled  # loaded from the cache, nothing compiled

    im2col.write_text(original.replace(*COPY_TWICE_THE_PIXEL))
    edited, compiled = run_conv(tmp_path, cache)
    assert np.isclose(edited, 2 * first, rtol=1e-6) and edited != first
    assert {"conv2d_forward_part", "im2col"} <= compiled  # built from im2col.py
    assert not compiled & {"gemm", "_run_parts", "empty"}  # not built from it: loaded as they were

    im2col.write_text(original)  # as `git checkout` would
    reverted, _ = run_conv(tmp_path, cache)
    assert reverted == first


def test_a_kernel_depends_on_the_files_it_is_built_from_and_on_no_others():
    kernels_folder = REPO / "tinycnn" / "kernels"
    names = {kernel: {Path(path).relative_to(kernels_folder).as_posix() for path in jit.source_files(kernel.py_func)}
             for kernel in (conv2d_forward_part, conv2d_backward_part, conv2d_backward_naive, conv2d_forward_im2col,
                            _run_parts)}
    assert names[conv2d_forward_part] == {"fast/conv2d.py", "im2col.py", "fast/blas.py", "fast/buffers.py",
                                          "fast/conv2d_pool.py"}
    assert names[conv2d_backward_part] == {"fast/conv2d.py", "im2col.py", "fast/blas.py", "fast/buffers.py"}
    assert names[conv2d_backward_naive] == {"conv2d.py"}  # the conv alone
    assert names[conv2d_forward_im2col] == {"conv2d_im2col.py", "im2col.py"}
    # the pointer-called kernels are not part of the loop that runs them
    assert names[_run_parts] == {"fast/threads.py"}


def test_every_kernel_of_tinycnn_has_the_dependency_cache():
    """A kernel made with numba.njit(cache=True) instead would again ignore edits to its helpers."""
    import importlib
    import pkgutil

    import tinycnn
    from numba.core.dispatcher import Dispatcher

    kernels = []
    for module_info in pkgutil.walk_packages(tinycnn.__path__, "tinycnn."):
        module = importlib.import_module(module_info.name)
        kernels += [value for value in vars(module).values()
                    if isinstance(value, Dispatcher) and value.py_func.__module__ == module.__name__]
    assert len(kernels) > 40
    assert [k.py_func.__qualname__ for k in kernels if not isinstance(k._cache, jit.DependencyCache)] == []


def test_the_options_a_kernel_is_compiled_with_are_part_of_its_stamp():
    """An edit to jit.prange_only() or to the options njit passes changes no kernel's file, only its options:
    a cache keyed on the files alone would load machine code compiled with the old ones."""
    from tinycnn.kernels.relu import relu_forward
    from tinycnn.kernels.fast.threads import prange_only

    def stamp(**options):
        cache = jit.njit(**options)(relu_forward.py_func)._cache
        cache._stamp()
        return cache._cache_file._source_stamp

    assert stamp(parallel=prange_only()) == stamp(parallel=prange_only())
    assert stamp(parallel=prange_only()) != stamp(parallel=dict(prange_only(), prange=False))
    assert stamp() != stamp(boundscheck=True)
