"""Time one helper kernel alone, the way docs/performance.md quotes it: im2col and col2im on padded layers, or the
max-pool kernel, as the median milliseconds of repeated calls.

    python experiments/kernel_timings.py im2col     # one thread: 64 images of 3x3 fields, padding 1
    python experiments/kernel_timings.py maxpool    # Numba's threads: 2x2 pools at batch 128, forward and backward

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernel", choices=["im2col", "maxpool"])
    args = parser.parse_args(argv)
    {"im2col": time_im2col, "maxpool": time_maxpool}[args.kernel]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
