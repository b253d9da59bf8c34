"""Which kernels the ops run: the fast pairs (the default) or the reference pairs, the naive twins. One switch.

Every op of ``tinycnn.functional`` has two kernel pairs (a forward and a
backward each), registered in the table at the end of this file:

- ``reference``: the ``_naive`` kernels, plain loops written from the
  definition (``conv2d_forward_naive`` is the seven-loop sum), each op its
  own call. Fusion is off in this mode (tinycnn/fusion.py), so a conv, its
  ReLU and its pool run as three ops, each where the model calls it.
- ``fast``: what the engine runs by default, held to the reference pairs by
  tests/test_kernels.py. The conv's is in ``kernels/fast/``.

Both take the same arguments and return the same results, so an op's
``Function`` (tinycnn/functional.py) calls ``kernels(op)`` and never knows
which it got. Train on the reference pairs to see what a change to a naive
kernel does::

    TINYCNN_KERNELS=reference python experiments/iter4.py    # or --kernels reference (training scripts, evaluate.py)

or from code, for the rest of the program or for a block only::

    tinycnn.backend.use("reference")
    with tinycnn.backend.use("reference"):
        loss = F.cross_entropy(model(x), y)   # the forward here and its backward, whenever it runs

The naive kernels are compiled by Numba like the others (a training run
takes minutes instead of seconds); with ``NUMBA_DISABLE_JIT=1`` they run as
plain Python, to step through in a debugger. The augmentation of the data
is not an op and always runs its one kernel.

A new op registers its two pairs here with ``register`` (docs/adding-an-op.md).
"""

import os

import numpy as np

from tinycnn.kernels import avgpool2d, batchnorm2d, conv2d, dropout, linear, log_softmax, maxpool2d, nll, relu
from tinycnn.kernels.fast import conv2d as fast_conv2d

MODES = ("fast", "reference")


def _mode_from_environment():
    mode = os.environ.get("TINYCNN_KERNELS", "fast").strip().lower() or "fast"
    if mode not in MODES:
        raise ValueError(f"TINYCNN_KERNELS={os.environ['TINYCNN_KERNELS']!r} is not a kernel set tinycnn has: "
                         f"set it to one of {', '.join(MODES)}, or unset it (fast)")
    return mode


_mode = _mode_from_environment()
_pairs = {}  # op -> {"fast": (forward, backward), "reference": (forward, backward)}


def mode():
    """The kernel set in force: ``"fast"`` or ``"reference"``."""
    return _mode


class use:
    """Run the ops on ``"fast"`` or ``"reference"`` kernels: for the rest of the program if called, for the block
    only if used in ``with`` (as ``tinycnn.fusion.set_enabled``)."""

    def __init__(self, kernel_set):
        global _mode
        if kernel_set not in MODES:
            raise ValueError(f"tinycnn.backend.use: {kernel_set!r} is not a kernel set; choose one of "
                             f"{', '.join(MODES)}")
        self.previous, _mode = _mode, kernel_set

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        global _mode
        _mode = self.previous


def register(op, *, fast, reference):
    """Give ``op`` its two kernel pairs, each ``(forward, backward)``, both taking the same arguments and
    returning the same results. Registering an op again replaces its pairs."""
    for name, pair in (("fast", fast), ("reference", reference)):
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(k is None or callable(k) for k in pair)):
            raise TypeError(f"register({op!r}): {name} must be a (forward, backward) pair of kernels, got {pair!r}")
    _pairs[op] = {"fast": fast, "reference": reference}


def kernels(op):
    """``(forward, backward)``: the kernel pair ``op`` runs in the kernel set in force."""
    try:
        return _pairs[op][_mode]
    except KeyError:
        raise KeyError(f"tinycnn.backend: no kernels registered for the op {op!r} (registered: "
                       f"{', '.join(sorted(_pairs))}); register them with tinycnn.backend.register") from None


def registered():
    """Every op with kernels, sorted."""
    return sorted(_pairs)


# ----- the reference conv with the fast pair's arguments ---------------------------------------------------------
# The fast conv can take a ReLU and a max-pool that fusion joins to it; the reference conv is the conv alone. Fusion
# is off in reference mode, so these get relu=False and pool_kernel=0, and refuse anything else.


def _conv2d_forward_reference(x, weight, bias, stride, padding, relu=False, pool_kernel=0, pool_stride=0):
    """``conv2d.conv2d_forward_naive``, returned as the fast forward returns it: out, and no pool winners."""
    if relu or pool_kernel:
        raise ValueError("the reference conv is the conv alone: ReLU and max-pool are their own ops (fusion is off "
                         "with TINYCNN_KERNELS=reference)")
    out = conv2d.conv2d_forward_naive(np.ascontiguousarray(x), np.ascontiguousarray(weight), bias, stride, padding)
    return out, np.empty((0,) + out.shape[1:], dtype=np.int8)


def _conv2d_backward_reference(dout, x, weight, out, winner_place, stride, padding, relu=False, pool_kernel=0,
                               pool_stride=0, need_dx=True, need_dbias=True):
    """``conv2d.conv2d_backward_naive``: dx, dweight, dbias (all three, whatever is needed)."""
    if relu or pool_kernel:
        raise ValueError("the reference conv is the conv alone: ReLU and max-pool are their own ops")
    return conv2d.conv2d_backward_naive(np.ascontiguousarray(dout), x, weight, stride, padding)


# ----- the table: every op, its reference pair and its fast pair ---------------------------------------------------

register("conv2d",
         reference=(_conv2d_forward_reference, _conv2d_backward_reference),
         fast=(fast_conv2d.conv2d_forward, fast_conv2d.conv2d_backward))
register("relu",
         reference=(relu.relu_forward_naive, relu.relu_backward_naive),
         fast=(relu.relu_forward, relu.relu_backward))
register("max_pool2d",
         reference=(maxpool2d.maxpool2d_forward_naive, maxpool2d.maxpool2d_backward_naive),
         fast=(maxpool2d.maxpool2d_forward, maxpool2d.maxpool2d_backward))
register("linear",
         reference=(linear.linear_forward_naive, linear.linear_backward_naive),
         fast=(linear.linear_forward, linear.linear_backward))
register("log_softmax",
         reference=(log_softmax.log_softmax_forward_naive, log_softmax.log_softmax_backward_naive),
         fast=(log_softmax.log_softmax_forward, log_softmax.log_softmax_backward))
register("nll_loss",  # one plain loop each way: its own definition, in both sets
         reference=(nll.nll_forward, nll.nll_backward),
         fast=(nll.nll_forward, nll.nll_backward))
register("batch_norm_statistics",  # the batch's mean and variance: a forward with no backward of its own
         reference=(batchnorm2d.batchnorm2d_statistics_naive, None),
         fast=(batchnorm2d.batchnorm2d_statistics, None))
register("batch_norm",
         reference=(batchnorm2d.batchnorm2d_forward_naive, batchnorm2d.batchnorm2d_backward_naive),
         fast=(batchnorm2d.batchnorm2d_forward, batchnorm2d.batchnorm2d_backward))
register("dropout",
         reference=(dropout.dropout_forward_naive, dropout.dropout_backward_naive),
         fast=(dropout.dropout_forward, dropout.dropout_backward))
register("avg_pool2d",
         reference=(avgpool2d.avgpool2d_forward_naive, avgpool2d.avgpool2d_backward_naive),
         fast=(avgpool2d.avgpool2d_forward, avgpool2d.avgpool2d_backward))
register("adaptive_avg_pool2d",
         reference=(avgpool2d.adaptive_avgpool2d_forward_naive, avgpool2d.adaptive_avgpool2d_backward_naive),
         fast=(avgpool2d.adaptive_avgpool2d_forward, avgpool2d.adaptive_avgpool2d_backward))
