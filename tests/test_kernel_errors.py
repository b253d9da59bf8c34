"""An error inside a kernel reaches the caller: never garbage outputs and a printed traceback.

Two places can lose an exception: a part kernel called through a function
pointer on Numba's threads (threads.run_in_parts), and the body of a
prange loop (an allocation that fails there is not raised, see
kernels/fast/threads.py). The first is checked by running kernels that fail;
the second by reading the machine code of every prange loop for calls to
Numba's allocator.
"""

import importlib
import os
import pkgutil
import re
import subprocess
import sys

import numba
import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

import tinycnn
from tinycnn.compile import every_op_model, warm_up
from tinycnn.kernels.fast.threads import KernelError, KernelMemoryError, prange_only, run_in_parts


@numba.njit
def _fails_in_part_one(out, part, n_parts):
    if part == 1:
        raise ValueError("part one cannot")
    out[part] = 1.0
    return True


@numba.njit
def _allocates_too_much_in_part_one(out, part, n_parts):
    scratch = np.empty(2**42 if part == 1 else 1)  # 32 TB: the allocation fails
    scratch[0] = 1.0
    out[part] = scratch[0]
    return True


@numba.njit
def _fails_the_first_time_only(calls, part, n_parts):
    calls[part] += 1
    if part == 1 and calls[part] == 1:
        raise ValueError("only this once")
    return True


@numba.njit
def _forgets_to_say_it_finished(out, part, n_parts):
    out[part] = 1.0


def test_an_exception_inside_a_part_reaches_the_caller_naming_the_kernel_and_the_part():
    with pytest.raises(KernelError, match=r"_fails_in_part_one: part 1 of the 2 .* ValueError: part one cannot") as info:
        run_in_parts(_fails_in_part_one, 4, 2, np.zeros(2))
    assert isinstance(info.value.__cause__, ValueError)


def test_the_part_s_own_exception_is_the_cause_without_running_it_again(capsys):
    """The exception Numba's wrapper hands to sys.unraisablehook is kept (and not printed): a failure that depends
    on the moment (memory) is still named, and the part's work is not done twice."""
    calls = np.zeros(2, dtype=np.int64)
    with pytest.raises(KernelError, match="ValueError: only this once") as info:
        run_in_parts(_fails_the_first_time_only, 2, 2, calls)
    assert isinstance(info.value.__cause__, ValueError) and calls.tolist() == [1, 1]
    assert "Exception ignored" not in capsys.readouterr().err


def test_an_allocation_that_fails_inside_a_part_is_a_memory_error():
    with pytest.raises(KernelMemoryError, match="out of memory") as info:
        run_in_parts(_allocates_too_much_in_part_one, 4, 2, np.zeros(2))
    assert isinstance(info.value, MemoryError)


def test_a_part_kernel_must_say_that_it_finished_and_be_a_numba_kernel():
    with pytest.raises(TypeError, match="ends with 'return True'"):
        run_in_parts(_forgets_to_say_it_finished, 4, 2, np.zeros(2))
    with pytest.raises(TypeError, match="run_in_parts runs a Numba kernel"):
        run_in_parts(_forgets_to_say_it_finished.py_func, 4, 2, np.zeros(2))


# The probe, made small: a conv whose im2col buffer (C*KH*KW by OH*OW, allocated inside the part kernel)
# does not fit under the address-space cap. Before, the forward returned zeros and the backward zero gradients.
CAPPED_CONV = """
import resource
import numpy as np
from tinycnn import Tensor, nn
from tinycnn.kernels.fast.conv2d import conv2d_backward, conv2d_forward

def vm_bytes():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))

layer = nn.Conv2d(64, 1, 3)
layer(Tensor(np.ones((2, 64, 8, 8), np.float32))).sum().backward()  # compiled, threads started
x = np.ones((1, 64, 400, 400), np.float32)  # im2col: 576 x 158,404 float32, 365 MB
options = dict(stride=1, padding=0, relu=False, pool_kernel=0, pool_stride=0, n_parts=2)
weight, bias = layer.weight.data, layer.bias.data
out, winner = conv2d_forward(x, weight, bias, **options)  # before the cap: fits
resource.setrlimit(resource.RLIMIT_AS, (vm_bytes() + 200 * 2**20, resource.RLIM_INFINITY))
for name, call in [("forward", lambda: conv2d_forward(x, weight, bias, **options)),
                   ("backward", lambda: conv2d_backward(out, x, weight, out, winner, need_dx=True, need_dbias=True,
                                                        **options)),
                   ("layer", lambda: layer(Tensor(x)).data)]:
    try:
        result = call()
        print(name, "returned", "all zeros" if not np.any(result[0] if isinstance(result, tuple) else result) else "")
    except MemoryError as error:
        print(name, "raised", type(error).__name__)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="caps the address space, reads /proc")
def test_a_conv_too_large_for_memory_raises_instead_of_returning_zeros(tmp_path):
    run = subprocess.run([sys.executable, "-c", CAPPED_CONV], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split("\n")[:3] == ["forward raised KernelMemoryError", "backward raised KernelMemoryError",
                                          "layer raised KernelMemoryError"], run.stdout


# ----- no allocation inside a prange loop ---------------------------------------------------------------------------

def tinycnn_kernels():
    for module_info in pkgutil.walk_packages(tinycnn.__path__, "tinycnn."):
        module = importlib.import_module(module_info.name)
        yield from (value for value in vars(module).values()
                    if isinstance(value, Dispatcher) and value.py_func.__module__ == module.__name__)


def function_bodies(llvm_ir):
    """{name: body} of every function defined in a module's LLVM IR."""
    bodies = {}
    for chunk in llvm_ir.split("\ndefine ")[1:]:
        name = re.search(r'@"?([^"(\s]+)"?\(', chunk.split("\n", 1)[0])
        bodies[name.group(1)] = chunk.split("\n}\n", 1)[0]
    return bodies


def called(body):
    return set(re.findall(r'call [^@\n]*@"?([\w.$]+)"?\(', body))


def mangled(kernel):
    """How a kernel's name starts in Numba's mangled symbols: _ZN7tinycnn7kernels9maxpool2d11_pool_plane..."""
    parts = kernel.py_func.__module__.split(".") + [kernel.py_func.__name__]
    return "".join(f"{len(part)}{part}" for part in parts)


def allocations_in(kernel, signature, fresh_options, seen):
    """The allocator calls of ``kernel``'s code for ``signature`` and of the tinycnn kernels it calls, read from a
    fresh copy's IR (a kernel loaded from the cache has none to show)."""
    if (kernel, signature) in seen:
        return []
    seen.add((kernel, signature))
    copy = numba.njit(**fresh_options)(kernel.py_func)
    copy.compile(signature)
    bodies = function_bodies(copy.inspect_llvm(signature))
    return [f"{kernel.py_func.__name__}: {name}" for body in bodies.values() for name in called(body)
            if name.startswith("NRT_MemInfo_alloc")]


@pytest.mark.filterwarnings("ignore::numba.NumbaWarning")
def test_no_prange_loop_allocates_memory():
    """An allocation that fails inside a prange body is swallowed (the output is garbage); outside it raises. So
    every parallel kernel allocates before its loop, and neither the loop nor the kernels it calls allocate."""
    warm_up(every_op_model(), helper=False)  # each kernel compiled (or loaded) for the types the engine passes
    kernels = list(tinycnn_kernels())
    # told by their prange loop (Numba empties a kernel's parallel options once it has compiled it)
    parallel = [k for k in kernels if "prange" in k.py_func.__code__.co_names and k.py_func.__name__ != "_run_parts"]
    assert len(parallel) >= 12
    offenders = []
    for kernel in parallel:
        assert kernel.signatures, f"{kernel.py_func.__name__} did not run in warm_up: give it a case here"
        for signature in kernel.signatures:
            fresh = numba.njit(parallel=prange_only())(kernel.py_func)
            fresh.compile(signature)
            bodies = function_bodies(fresh.inspect_llvm(signature))
            loops = {name: body for name, body in bodies.items() if "__numba_parfor_gufunc" in name}  # and wrapper
            assert loops, f"{kernel.py_func.__name__}: no prange loop found in its code"
            for name, body in loops.items():
                calls = called(body)
                offenders += [f"{kernel.py_func.__name__}'s loop calls {c}" for c in calls
                              if c.startswith("NRT_MemInfo_alloc")]
                for callee in kernels:
                    if any(mangled(callee) in c for c in calls):
                        for callee_signature in callee.signatures:
                            offenders += allocations_in(callee, callee_signature, {}, set())
    assert offenders == []
