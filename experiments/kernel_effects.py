"""What each technique of the fast conv kernels buys, measured on the study's minimal model's two layers.

    python experiments/kernel_effects.py            # batch 1024, 7 rounds (about two minutes)
    python experiments/kernel_effects.py --quick    # a smoke run

For each conv layer of the minimal model (conv1: 1 -> 16 channels on 28x28,
ReLU, 2x2 pool; conv2: 16 -> 32 on 13x13, ReLU, 3x3 pool), it times the
forward and backward of the kernel the engine runs against the same kernel
with one technique taken away:

- fusion:       conv, then ReLU, then max-pool as three kernels (what
                ``TINYCNN_FUSION=0`` runs), storing the full-size conv output;
- window order: conv1's forward in ``conv2d.py``'s plane order instead of
                the pool's window order (``conv2d_windows.py``); conv2 runs
                in plane order anyway;
- pool crop:    the plane-order kernels compute all OH x OW outputs, not
                only the RH x RW part the pool reads;
- across filters: conv2's 3x3 pool plane by plane, each plane's windows one
                after the other (as the engine pooled before), instead of
                across filters from the transposed product; conv1's 2x2
                pool is plane by plane (or in window order) anyway;
- BLAS in place: each product goes to a new array and is copied or added
                afterwards, instead of BLAS writing into the thread's buffer
                and partial sums (``gemm`` with beta);
- threads:      one thread instead of two (the images are not spread).

The variants are the engine's own kernels recompiled with one helper
replaced (``_extent_read_by_pool``, ``gemm``, ``bias_pool_relu_across_filters``), and the engine's kernels are
recompiled the same way for the comparison, so nothing else differs (on
conv1, "no pool crop" also takes the window order away: the crop belongs
to the plane-order kernel).
Variants and the engine take turns in every round; the table gives the
median time over rounds and its ratio to the engine's. Timings only: the
results of every variant are checked equal to the engine's first.
"""

import argparse
import time
import types

import numba
import numpy as np

from tinycnn.kernels.fast.conv2d import (conv2d_backward, conv2d_backward_part, conv2d_forward, conv2d_forward_part,
                                         conv2d_forward_planes)
from tinycnn.kernels.fast.conv2d_pool import bias_pool_relu, bias_pool_relu_any
from tinycnn.kernels.fast.conv2d_windows import (conv2d_forward_windows, conv2d_forward_windows_part,
                                                 pools_in_window_order)
from tinycnn.kernels.maxpool2d import maxpool2d_backward, maxpool2d_forward
from tinycnn.kernels.relu import relu_backward, relu_forward
from tinycnn.kernels.fast.threads import one_blas_thread

LAYERS = {  # name: (input channels, size, filters, pool)
    "conv1": (1, 28, 16, 2),
    "conv2": (16, 13, 32, 3),
}


@numba.njit
def _all_rows(size, pooled_size, pool_kernel, pool_stride):
    return size  # no crop: every row of the conv output is computed


@numba.njit
def _gemm_through_a_temporary(a, transpose_a, b, transpose_b, beta, c):
    if transpose_a:
        product = np.dot(a.T, b.T) if transpose_b else np.dot(a.T, b)
    else:
        product = np.dot(a, b.T) if transpose_b else np.dot(a, b)
    if beta == 0:
        c[:] = product
    else:
        c += product


@numba.njit
def _pool_plane_by_plane(conv, bias, kernel, stride, RW, relu, out, winner_place, conv_t, best, best_place):
    RH = conv.shape[1] // RW
    for f in range(conv.shape[0]):  # the 3x3 pool with its window as a constant, as the engine had it
        if kernel == 3 and stride == 3:
            bias_pool_relu(conv[f].reshape(RH, RW), bias[f], kernel=3, stride=3, relu=relu, out=out[f],
                            winner_place=winner_place[f])
        else:
            bias_pool_relu_any(conv[f].reshape(RH, RW), bias[f], kernel, stride, relu, out[f], winner_place[f])


def with_globals(function, **replacements):
    """A copy of a Python function that finds ``replacements`` in place of some of its module's names."""
    return types.FunctionType(function.__code__, dict(function.__globals__, **replacements), function.__name__,
                              function.__defaults__, function.__closure__)


def recompiled(kernel, part_kernel, **helpers):
    """The engine's ``kernel``, which runs ``part_kernel`` on each thread's run of images, with that compiled
    again and some of the helpers it calls replaced."""
    part = numba.njit(with_globals(part_kernel.py_func, **helpers))
    return with_globals(kernel, **{part_kernel.py_func.__name__: part})


def fused_pair(forward, backward, n_parts=2):
    def run(x, w, b, dout, pool):
        options = dict(stride=1, padding=0, relu=True, pool_kernel=pool, pool_stride=pool)
        out, winner = forward(x, w, b, n_parts=n_parts, **options)
        start = time.perf_counter()
        grads = backward(dout, x, w, out, winner, need_dx=True, need_dbias=True, n_parts=n_parts, **options)
        return out, grads, start
    return run


def unfused(x, w, b, dout, pool):
    options = dict(stride=1, padding=0, relu=False, pool_kernel=0, pool_stride=0)
    conv, winner = conv2d_forward(x, w, b, n_parts=2, **options)
    activated = relu_forward(conv.reshape(-1)).reshape(conv.shape)
    out, winner_index = maxpool2d_forward(activated, pool, pool, pool, pool)
    start = time.perf_counter()
    dactivated = maxpool2d_backward(dout, winner_index, conv.shape[2], conv.shape[3])
    dconv = relu_backward(dactivated.reshape(-1), activated.reshape(-1)).reshape(conv.shape)
    grads = conv2d_backward(dconv, x, w, conv[:0], winner, need_dx=True, need_dbias=True, n_parts=2, **options)
    return out, grads, start


def as_conv2d_forward(forward_windows):
    """conv2d_forward_windows, callable as conv2d_forward is (its pool is always 2x2 of stride 2)."""
    def call(x, w, b, n_parts, stride, padding, relu, pool_kernel, pool_stride):
        return forward_windows(x, w, b, stride=stride, padding=padding, relu=relu, n_parts=n_parts)
    return call


def variants(in_window_order):
    """The engine's pair for a layer (its forward in window order where Conv2dFunction would pick that), and the
    same with one technique taken away; every kernel compiled the same way, so that only that technique differs."""
    def forward(**helpers):
        if in_window_order:
            return as_conv2d_forward(recompiled(conv2d_forward_windows, conv2d_forward_windows_part, **helpers))
        return recompiled(conv2d_forward_planes, conv2d_forward_part, **helpers)
    return {
        "engine": fused_pair(forward(), recompiled(conv2d_backward, conv2d_backward_part)),
        "no fusion": unfused,
        "no window order": fused_pair(recompiled(conv2d_forward_planes, conv2d_forward_part),
                                      recompiled(conv2d_backward, conv2d_backward_part)),
        "no pool across filters": fused_pair(forward(bias_pool_relu_across_filters=_pool_plane_by_plane),
                                             recompiled(conv2d_backward, conv2d_backward_part)),
        "no pool crop": fused_pair(recompiled(conv2d_forward_planes, conv2d_forward_part,
                                              _extent_read_by_pool=_all_rows),
                                   recompiled(conv2d_backward, conv2d_backward_part, _extent_read_by_pool=_all_rows)),
        "no BLAS in place": fused_pair(forward(gemm=_gemm_through_a_temporary),
                                       recompiled(conv2d_backward, conv2d_backward_part,
                                                  gemm=_gemm_through_a_temporary)),
        "one thread": fused_pair(forward(), recompiled(conv2d_backward, conv2d_backward_part), n_parts=1),
    }


def measure(run, arrays, threads):
    numba.set_num_threads(threads)
    start = time.perf_counter()
    out, grads, backward_start = run(*arrays)
    end = time.perf_counter()
    numba.set_num_threads(2)
    return backward_start - start, end - backward_start, (out, grads)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 64, 2 rounds")
    parser.add_argument("--rounds", type=int, help="rounds (default 7)")
    args = parser.parse_args(argv)
    batch, rounds = (64, 2) if args.quick else (1024, args.rounds or 7)
    rng = np.random.default_rng(0)
    print(f"batch {batch}, float32, {rounds} rounds; median milliseconds, and the ratio to the engine's")
    print(f"{'layer':<7}{'variant':<24}{'forward':>10}{'backward':>10}{'fwd ratio':>11}{'bwd ratio':>11}")
    with one_blas_thread():
        for layer, (C, size, filters, pool) in LAYERS.items():
            runs = variants(pools_in_window_order(filters, C * 9, pool, pool))
            x = rng.standard_normal((batch, C, size, size)).astype(np.float32)
            w = (rng.standard_normal((filters, C, 3, 3)) / np.sqrt(9 * C)).astype(np.float32)
            b = rng.standard_normal(filters).astype(np.float32) * 0.1
            pooled = (size - 2) // pool
            dout = rng.standard_normal((batch, filters, pooled, pooled)).astype(np.float32)
            arrays = (x, w, b, dout, pool)
            reference = None
            times = {name: [] for name in runs}
            for name, run in runs.items():  # compile, and check every variant computes the same
                _, _, results = measure(run, arrays, 1 if name == "one thread" else 2)
                out, grads = results
                if reference is None:
                    reference = results
                np.testing.assert_allclose(out, reference[0], rtol=1e-5, atol=1e-5, err_msg=name)
                for got, expected in zip(grads, reference[1]):
                    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3, err_msg=name)
            for _ in range(rounds):
                for name, run in runs.items():
                    times[name].append(measure(run, arrays, 1 if name == "one thread" else 2)[:2])
            medians = {name: np.median(np.array(t), axis=0) * 1e3 for name, t in times.items()}
            for name, (forward, backward) in medians.items():
                base_forward, base_backward = medians["engine"]
                print(f"{layer:<7}{name:<24}{forward:>10.1f}{backward:>10.1f}"
                      f"{forward / base_forward:>10.2f}x{backward / base_backward:>10.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
