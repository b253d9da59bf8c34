"""Time one helper kernel alone, the way docs/performance.md quotes it: im2col and col2im on padded layers, or the
max-pool kernel, as the median milliseconds of repeated calls.

    python experiments/kernel_timings.py im2col     # one thread: 64 images of 3x3 fields, padding 1
    python experiments/kernel_timings.py maxpool    # Numba's threads: 2x2 pools at batch 128, forward and backward
    python experiments/kernel_timings.py conv-layers [--models vgg,strided]   # one thread, every conv of the zoo

``conv-layers`` times each distinct conv of the benchmark's models (batch as benchmark.py trains them) on one
thread, three ways: tinycnn's fast pair (the conv alone, no ReLU or pool joined), the products alone (the
same BLAS calls on the same shapes, one image at a time, with no lowering), and PyTorch's conv forward and
backward (if torch is installed). The products alone are the floor of an im2col design on this BLAS: what is
left above them is the lowering (im2col, col2im) and the rest. Figures are the least CPU time of several
calls (``time.process_time``: on one thread, time another process takes from the core is not counted).

To compare two commits, run it in a worktree of each with PYTHONPATH at that worktree, taking turns: a figure
measured alone says little on a shared machine.
"""

import argparse
import time

import numpy as np


def median_ms(function, repeats=9):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def time_im2col():
    from tinycnn.kernels.im2col import col2im_add, im2col

    rng = np.random.default_rng(0)
    figures = []
    for C, H in [(8, 28), (16, 14), (32, 7)]:
        images = rng.standard_normal((64, C, H, H)).astype(np.float32)
        cols = np.empty((C * 9, H * H), np.float32)
        dimage = np.zeros((C, H, H), np.float32)
        im2col(images[0], 3, 3, 1, 1, H, H, cols)  # compile (or load) first
        col2im_add(cols, 3, 3, 1, 1, H, H, dimage)
        def lower_all():
            for n in range(len(images)):
                im2col(images[n], 3, 3, 1, 1, H, H, cols)

        def add_all():
            for _ in range(len(images)):
                col2im_add(cols, 3, 3, 1, 1, H, H, dimage)

        lowering, adding = median_ms(lower_all), median_ms(add_all)
        figures.append(f"C={C} {H}x{H}: im2col {lowering:.2f} ms, col2im_add {adding:.2f} ms")
    print("; ".join(figures))


def time_maxpool():
    from tinycnn.kernels.maxpool2d import maxpool2d_backward, maxpool2d_forward

    rng = np.random.default_rng(0)
    figures = []
    for shape in [(128, 16, 28, 28), (128, 32, 14, 14)]:
        x = rng.standard_normal(shape).astype(np.float32)
        out, winner_index = maxpool2d_forward(x, 2, 2, 2, 2)
        dout = rng.standard_normal(out.shape).astype(np.float32)
        maxpool2d_backward(dout, winner_index, shape[2], shape[3])
        forward = median_ms(lambda: maxpool2d_forward(x, 2, 2, 2, 2))
        backward = median_ms(lambda: maxpool2d_backward(dout, winner_index, shape[2], shape[3]))
        figures.append(f"{shape[1]} channels of {shape[2]}x{shape[3]}: forward {forward:.2f} ms, backward "
                       f"{backward:.2f} ms")
    print("; ".join(figures))


def least_cpu_ms(function, repeats=7):
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best * 1e3


def _products_alone():
    """A Numba loop of a conv's three per-image products, as the fast pair calls BLAS, without the lowering."""
    from tinycnn.kernels.fast.blas import AS_IS, TRANSPOSED, gemm
    from tinycnn.kernels.jit import njit

    @njit(cache=False)
    def products(weight_matrix, cols, dconv, dcols, dweight_t, outs, images, backward, need_dx):
        for n in range(images):
            if not backward:
                gemm(weight_matrix, AS_IS, cols, AS_IS, 0.0, outs[n])  # out[n] = weight_matrix @ cols
                continue
            gemm(cols, AS_IS, dconv[n], TRANSPOSED, 1.0, dweight_t)  # dweight.T += cols @ dconv.T
            if need_dx:
                gemm(weight_matrix, TRANSPOSED, dconv[n], AS_IS, 0.0, dcols)  # dcols = weight_matrix.T @ dconv

    return products


def time_conv_layers(models):
    import sys
    from pathlib import Path

    import numba

    from tinycnn.kernels.fast.conv2d import conv2d_backward, conv2d_forward
    from tinycnn.kernels.fast.threads import one_blas_thread

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchmark import MODELS, layer_calls

    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    numba.set_num_threads(1)
    products = _products_alone()
    rng = np.random.default_rng(0)
    print("one thread; ms per call at the training batch; products = the same BLAS calls without the lowering")
    print(f"{'model':16} {'conv (N, C->F, HxW, k, s, p)':34} {'tinycnn fwd':>11} {'bwd':>6} {'products fwd':>12} "
          f"{'bwd':>6} {'torch fwd':>9} {'bwd':>6}")
    seen = set()
    for model in models:
        for call in layer_calls(model, MODELS[model][1]):
            if call["kind"] != "conv2d":
                continue
            (N, C, H, W), (F, _, K, _) = call["input_shape"], call["weight_shape"]
            stride, padding, need_dx = call["stride"], call["padding"], call["needs_input_grad"]
            key = (N, C, H, W, F, K, stride, padding, need_dx)
            if key in seen:
                continue
            seen.add(key)
            _, _, OH, OW = call["output_shape"]
            x = rng.standard_normal((N, C, H, W)).astype(np.float32)
            weight = rng.standard_normal((F, C, K, K)).astype(np.float32)
            bias = np.zeros(F, np.float32)
            dout = rng.standard_normal((N, F, OH, OW)).astype(np.float32)
            with one_blas_thread():
                out, winner_place = conv2d_forward(x, weight, bias, stride, padding, n_parts=1)
                ours_forward = least_cpu_ms(lambda: conv2d_forward(x, weight, bias, stride, padding, n_parts=1))
                ours_backward = least_cpu_ms(lambda: conv2d_backward(
                    dout, x, weight, out, winner_place, stride, padding, need_dx=need_dx, n_parts=1))
                weight_matrix = weight.reshape(F, -1)
                cols = rng.standard_normal((C * K * K, OH * OW)).astype(np.float32)
                dcols, dweight_t = np.empty_like(cols), np.zeros((C * K * K, F), np.float32)
                outs, dconv = out.reshape(N, F, OH * OW), dout.reshape(N, F, OH * OW)
                alone_forward = least_cpu_ms(
                    lambda: products(weight_matrix, cols, dconv, dcols, dweight_t, outs, N, False, need_dx))
                alone_backward = least_cpu_ms(
                    lambda: products(weight_matrix, cols, dconv, dcols, dweight_t, outs, N, True, need_dx))
            torch_figures = ""
            if torch is not None:
                tx = torch.from_numpy(x).requires_grad_(need_dx)
                tw = torch.from_numpy(weight).requires_grad_()
                tdout = torch.from_numpy(dout)

                def torch_forward_only():
                    torch.nn.functional.conv2d(tx, tw, None, stride, padding)

                def torch_step():
                    torch.nn.functional.conv2d(tx, tw, None, stride, padding).backward(tdout)

                torch_step()  # oneDNN prepares its kernels for these shapes on the first calls
                torch_forward = least_cpu_ms(torch_forward_only, repeats=11)
                torch_backward = least_cpu_ms(torch_step, repeats=11) - torch_forward
                torch_figures = f"{torch_forward:9.2f} {torch_backward:6.2f}"
            shape = f"({N}, {C}->{F}, {H}x{W}, {K}, {stride}, {padding})"
            print(f"{model:16} {shape:34} {ours_forward:11.2f} {ours_backward:6.2f} {alone_forward:12.2f} "
                  f"{alone_backward:6.2f} {torch_figures}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernel", choices=["im2col", "maxpool", "conv-layers"])
    parser.add_argument("--models", default="iter4,tiny,lenet5,vgg,strided,bn_gap,pytorch_example",
                        help="conv-layers: comma-separated models of experiments/benchmark.py")
    args = parser.parse_args(argv)
    if args.kernel == "conv-layers":
        time_conv_layers(args.models.split(","))
    else:
        {"im2col": time_im2col, "maxpool": time_maxpool}[args.kernel]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
