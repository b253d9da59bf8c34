"""The differentiable operations of a CNN, with PyTorch's names and semantics.

Import it as PyTorch users do: ``import tinycnn.functional as F``.

Each public function checks its inputs (shapes, dtypes), so that a mistake is
reported in terms of the op and the shapes the user passed, then applies a
``Function`` whose forward and backward call one kernel pair: the one
``tinycnn.backend.kernels(op)`` gives, fast (the default) or reference (the
naive twins, with ``TINYCNN_KERNELS=reference``). The forward keeps that
pair on ``ctx``, so the backward runs the same set.

One op takes a detour: with fusion on (the default, fast kernels only),
``conv2d`` returns a ``Pending`` tensor (tinycnn/fusion.py), and a
``relu`` or ``max_pool2d`` applied to it joins it instead of running its
own kernel; the whole chain then runs as one ``Conv2dFunction``, whose
fast kernel takes ``relu`` and ``pool_kernel`` options for exactly this.
``batch_norm`` does the same with a ``relu``.
"""

from typing import NamedTuple

import numpy as np

from tinycnn import fusion
from tinycnn.backend import kernels
from tinycnn.kernels.conv2d import conv2d_output_size
from tinycnn.random import default_generator
from tinycnn.tensor import FLOAT_DTYPES, Function, Tensor

# ----- input checks --------------------------------------------------------------------


def _check_floats(op, *named):
    """Every (name, tensor) given is a float32/float64 Tensor, all of one dtype."""
    for name, value in named:
        if not isinstance(value, Tensor):
            raise TypeError(f"{op}: {name} must be a tinycnn.Tensor, got {type(value).__name__}")
        if value.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{op}: {name} must be float32 or float64, got {value.dtype}")
    dtypes = {value.dtype for _, value in named}
    if len(dtypes) > 1:
        described = ", ".join(f"{name} {value.dtype} {value.shape}" for name, value in named)
        raise TypeError(f"{op}: mixed dtypes ({described}); convert them to one dtype")


def _check_ndim(op, name, value, ndim, layout):
    if value.ndim != ndim:
        raise ValueError(f"{op}: {name} must be {ndim}-D {layout}, got shape {value.shape}")


_BOTH_AXES = {"kernel_size": "square windows", "stride": "one stride for both axes",
              "padding": "the same padding on every side"}


def _pair(op, name, value):
    """An int, or a pair of equal ints, as one int: the kernels take one value for both axes."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
        if value[0] != value[1]:
            raise ValueError(f"{op}: {name} {tuple(value)}: tinycnn's kernels take {_BOTH_AXES.get(name, 'one value')}"
                             f"; pass an int or an equal pair")
        value = value[0]
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int or a pair of equal ints, got {value!r}")
    return int(value)


def _conv_padding(op, padding, stride, kernel_hw):
    """The one padding the conv kernels take, from an int, an equal pair, or PyTorch's 'valid' and 'same'.

    'valid' is 0. 'same' keeps the output the input's size: for stride 1 and
    an odd kernel k, (k - 1) // 2 on every side. PyTorch refuses 'same' for a
    strided convolution, and so do we; for an even kernel PyTorch pads one
    more row and column after than before, which kernels that pad every side
    alike cannot do, so it is refused too, as is an odd KH x KW kernel with
    KH != KW (it would need two paddings).
    """
    if not isinstance(padding, str):
        return _pair(op, "padding", padding)
    if padding == "valid":
        return 0
    if padding != "same":
        raise ValueError(f"{op}: padding must be an int, a pair of equal ints, 'same' or 'valid', got {padding!r}")
    if stride != 1:
        raise ValueError(f"{op}: padding='same' needs stride 1 (PyTorch refuses it for strided convolutions too), "
                         f"got stride {stride}; pass an int padding")
    KH, KW = kernel_hw
    if KH % 2 == 0 or KW % 2 == 0:
        raise ValueError(f"{op}: padding='same' with the kernel {KH}x{KW}: an even size needs more padding after "
                         f"than before (PyTorch pads (k - 1) // 2 before and k // 2 after); tinycnn's conv kernels pad "
                         f"every side alike: use an odd kernel_size, or an int padding")
    if KH != KW:
        raise ValueError(f"{op}: padding='same' with the kernel {KH}x{KW} needs padding {(KH - 1) // 2} on the rows "
                         f"and {(KW - 1) // 2} on the columns; tinycnn's conv kernels take one padding: use a square "
                         f"kernel, or an int padding")
    return (KH - 1) // 2


def _contiguous(*arrays):
    return tuple(np.ascontiguousarray(a) for a in arrays)


def _bias_or_zeros(bias, weight):
    """The bias as a contiguous array, or zeros for a layer without one (the kernels always add a bias)."""
    return np.zeros(weight.shape[0], dtype=weight.dtype) if bias is None else np.ascontiguousarray(bias)


# ----- conv2d ----------------------------------------------------------------------------


class Conv2dFunction(Function):
    """conv2d + bias, then ReLU if ``relu``, then max-pool if ``pool_kernel`` > 0: one kernel call each way.

    ``F.conv2d`` applies it with ``relu=False, pool_kernel=0``; with fusion
    on, a ReLU and a max-pool that follow join it by setting them.
    """

    fuses_with = ("relu", "max_pool2d", "batch_norm")  # the ops tinycnn/fusion.py may fold into it

    @staticmethod
    def forward(ctx, x, weight, bias, *, stride, padding, relu=False, pool_kernel=0, pool_stride=0):
        forward_kernel, ctx.backward_kernel = kernels("conv2d")  # the chosen set's pair (tinycnn/backend.py)
        x, weight = _contiguous(x, weight)
        options = dict(stride=stride, padding=padding, relu=relu, pool_kernel=pool_kernel, pool_stride=pool_stride)
        out, winner_place = forward_kernel(x, weight, _bias_or_zeros(bias, weight), **options)
        # the output is needed only to know where a ReLU passed gradients; without one, keep nothing
        ctx.save_for_backward(x, weight, out if relu else out[:0], winner_place)
        ctx.options = options
        return out

    @staticmethod
    def backward(ctx, dout):
        x, weight, out, winner_place = ctx.saved_tensors
        need_dx, need_dbias = ctx.needs_input_grad[0], ctx.needs_input_grad[2]
        dx, dweight, dbias = ctx.backward_kernel(np.ascontiguousarray(dout), x, weight, out, winner_place,
                                                 need_dx=need_dx, need_dbias=need_dbias, **ctx.options)
        return (dx if need_dx else None), dweight, (dbias if need_dbias else None)


def conv2d(input, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation) with zero padding, as ``torch.nn.functional.conv2d``.

    ``stride`` is an int or an equal pair; ``padding`` an int, an equal
    pair, 'valid' or 'same' (stride 1 and an odd, square kernel: see
    ``_conv_padding``). The kernel may be KH x KW with KH != KW.

    Shape:
        input:  (N, C, H, W)
        weight: (F, C, KH, KW)
        bias:   (F,) or None
        output: (N, F, OH, OW), OH = (H + 2*padding - KH) // stride + 1, likewise OW
    """
    op = "conv2d"
    named = [("input", input), ("weight", weight)] + ([("bias", bias)] if bias is not None else [])
    _check_floats(op, *named)
    _check_ndim(op, "input", input, 4, "(N, C, H, W)")
    _check_ndim(op, "weight", weight, 4, "(F, C, KH, KW)")
    N, C, H, W = input.shape
    F, weight_C, KH, KW = weight.shape
    stride = _pair(op, "stride", stride)
    padding = _conv_padding(op, padding, stride, (KH, KW))
    if stride < 1 or padding < 0:
        raise ValueError(f"{op}: stride must be >= 1 and padding >= 0, got stride={stride}, padding={padding}")
    if weight_C != C:
        raise ValueError(
            f"{op}: input has {C} channels but weight expects {weight_C} "
            f"(input {input.shape}, weight {weight.shape})"
        )
    if bias is not None and bias.shape != (F,):
        raise ValueError(f"{op}: bias must have shape ({F},) for weight {weight.shape}, got {bias.shape}")
    if H + 2 * padding < KH or W + 2 * padding < KW:
        raise ValueError(
            f"{op}: kernel {KH}x{KW} is larger than the padded input {H + 2 * padding}x{W + 2 * padding} "
            f"(input {input.shape}, padding {padding})"
        )
    options = dict(stride=stride, padding=padding)
    if fusion.is_enabled():  # not run yet, so that a ReLU and a max-pool that follow can join it
        shape = (N, F, conv2d_output_size(H, KH, stride, padding), conv2d_output_size(W, KW, stride, padding))
        return fusion.Pending(Conv2dFunction, (input, weight, bias), options, shape)
    return Conv2dFunction.apply(input, weight, bias, **options)


def _pool_arguments(op, input, kernel_size, stride):
    """A pool's checked (kernel_size, stride): a float (N, C, H, W) input, the stride defaulting to the kernel,
    both >= 1, and a window that fits the input."""
    _check_floats(op, ("input", input))
    _check_ndim(op, "input", input, 4, "(N, C, H, W)")
    kernel_size = _pair(op, "kernel_size", kernel_size)
    stride = kernel_size if stride is None else _pair(op, "stride", stride)
    if kernel_size < 1 or stride < 1:
        raise ValueError(f"{op}: kernel_size and stride must be >= 1, got {kernel_size} and {stride}")
    H, W = input.shape[2:]
    if kernel_size > H or kernel_size > W:
        raise ValueError(f"{op}: kernel {kernel_size}x{kernel_size} is larger than the input {H}x{W} ({input.shape})")
    return kernel_size, stride


# ----- max_pool2d ------------------------------------------------------------------------


class MaxPool2dFunction(Function):
    @staticmethod
    def forward(ctx, x, *, kernel_size, stride):
        forward_kernel, ctx.backward_kernel = kernels("max_pool2d")
        out, winner_index = forward_kernel(np.ascontiguousarray(x), kernel_size, kernel_size, stride, stride)
        ctx.save_for_backward(winner_index)
        ctx.input_hw = x.shape[2:]
        return out

    @staticmethod
    def backward(ctx, dout):
        (winner_index,) = ctx.saved_tensors
        H, W = ctx.input_hw
        return ctx.backward_kernel(np.ascontiguousarray(dout), winner_index, H, W)


def max_pool2d(input, kernel_size, stride=None):
    """2-D max pooling without padding, as ``torch.nn.functional.max_pool2d``.

    ``stride`` defaults to ``kernel_size``. Output sizes round down (a partial
    window at the edge is dropped). At a tie the first maximum in row-major
    order of the window takes the gradient.

    Shape:
        input:  (N, C, H, W)
        output: (N, C, OH, OW), OH = (H - kernel_size) // stride + 1, likewise OW
    """
    kernel_size, stride = _pool_arguments("max_pool2d", input, kernel_size, stride)
    joined = fusion.join_max_pool2d(input, kernel_size, stride)
    return joined if joined is not None else MaxPool2dFunction.apply(input, kernel_size=kernel_size, stride=stride)


# ----- linear ----------------------------------------------------------------------------


class LinearFunction(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        forward_kernel, ctx.backward_kernel = kernels("linear")
        x, weight = _contiguous(x, weight)
        ctx.save_for_backward(x, weight)
        return forward_kernel(x, weight, _bias_or_zeros(bias, weight))

    @staticmethod
    def backward(ctx, dout):
        x, weight = ctx.saved_tensors
        dx, dweight, dbias = ctx.backward_kernel(np.ascontiguousarray(dout), x, weight)
        return dx, dweight, (dbias if ctx.needs_input_grad[2] else None)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``, as ``torch.nn.functional.linear``.

    Shape:
        input:  (N, D)
        weight: (M, D)
        bias:   (M,) or None
        output: (N, M)
    """
    op = "linear"
    named = [("input", input), ("weight", weight)] + ([("bias", bias)] if bias is not None else [])
    _check_floats(op, *named)
    _check_ndim(op, "input", input, 2, "(N, D)")
    _check_ndim(op, "weight", weight, 2, "(M, D)")
    if input.shape[1] != weight.shape[1]:
        raise ValueError(
            f"{op}: input has {input.shape[1]} features but weight expects {weight.shape[1]} "
            f"(input {input.shape}, weight {weight.shape})"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    return LinearFunction.apply(input, weight, bias)


# ----- relu ------------------------------------------------------------------------------


class ReLUFunction(Function):
    @staticmethod
    def forward(ctx, x):
        forward_kernel, ctx.backward_kernel = kernels("relu")
        out = forward_kernel(np.ascontiguousarray(x).reshape(-1)).reshape(x.shape)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved_tensors
        return ctx.backward_kernel(np.ascontiguousarray(dout).reshape(-1), out.reshape(-1)).reshape(out.shape)


def relu(input):
    """max(input, 0) element-wise; the gradient at 0 is 0. Shape: any, output the same."""
    _check_floats("relu", ("input", input))
    joined = fusion.join_relu(input)
    return joined if joined is not None else ReLUFunction.apply(input)


# ----- avg_pool2d, adaptive_avg_pool2d -------------------------------------------------------


class AvgPool2dFunction(Function):
    @staticmethod
    def forward(ctx, x, *, kernel_size, stride):
        forward_kernel, ctx.backward_kernel = kernels("avg_pool2d")
        ctx.options, ctx.input_hw = (kernel_size, kernel_size, stride, stride), x.shape[2:]
        return forward_kernel(np.ascontiguousarray(x), *ctx.options)

    @staticmethod
    def backward(ctx, dout):
        return ctx.backward_kernel(np.ascontiguousarray(dout), *ctx.options, *ctx.input_hw)


def avg_pool2d(input, kernel_size, stride=None, padding=0):
    """2-D average pooling without padding, as ``torch.nn.functional.avg_pool2d``.

    ``stride`` defaults to ``kernel_size``; output sizes round down.

    Shape:
        input:  (N, C, H, W)
        output: (N, C, OH, OW), OH = (H - kernel_size) // stride + 1, likewise OW
    """
    if _pair("avg_pool2d", "padding", padding) != 0:
        raise ValueError(f"avg_pool2d: only padding=0 is supported, got {padding}")
    kernel_size, stride = _pool_arguments("avg_pool2d", input, kernel_size, stride)
    return AvgPool2dFunction.apply(input, kernel_size=kernel_size, stride=stride)


class AdaptiveAvgPool2dFunction(Function):
    @staticmethod
    def forward(ctx, x, *, output_size):
        forward_kernel, ctx.backward_kernel = kernels("adaptive_avg_pool2d")
        ctx.input_hw = x.shape[2:]
        return forward_kernel(np.ascontiguousarray(x), *output_size)

    @staticmethod
    def backward(ctx, dout):
        return ctx.backward_kernel(np.ascontiguousarray(dout), *ctx.input_hw)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a given output size, as ``torch.nn.functional.adaptive_avg_pool2d``.

    ``output_size`` is an int or a pair (OH, OW); 1 is global average pooling
    (the mean of each channel). Bin i covers rows floor(i*H/OH) to
    ceil((i+1)*H/OH) - 1, likewise columns.

    Shape:
        input:  (N, C, H, W)
        output: (N, C, OH, OW)
    """
    op = "adaptive_avg_pool2d"
    _check_floats(op, ("input", input))
    _check_ndim(op, "input", input, 4, "(N, C, H, W)")
    size = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in size):
        raise ValueError(f"{op}: output_size must be an int >= 1 or a pair of them, got {output_size}")
    return AdaptiveAvgPool2dFunction.apply(input, output_size=(int(size[0]), int(size[1])))


# ----- dropout, dropout2d ---------------------------------------------------------------------


class DropoutFunction(Function):
    """Keep each unit (a value, or a plane of ``group`` values) with probability 1 - p, scaled by 1 / (1 - p).

    ``key`` picks the mask (kernels/dropout.py); the backward recomputes it from the key.
    """

    @staticmethod
    def forward(ctx, x, *, key, p, group):
        forward_kernel, ctx.backward_kernel = kernels("dropout")
        ctx.key, ctx.p, ctx.group = key, p, group
        return forward_kernel(np.ascontiguousarray(x).reshape(-1), key, p, group).reshape(x.shape)

    @staticmethod
    def backward(ctx, dout):
        flat = np.ascontiguousarray(dout).reshape(-1)
        return ctx.backward_kernel(flat, ctx.key, ctx.p, ctx.group).reshape(dout.shape)


def _dropout(op, input, p, training, generator, group_of, four_d=False):
    _check_floats(op, ("input", input))
    if four_d:
        _check_ndim(op, "input", input, 4, "(N, C, H, W)")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: p is a probability and must lie in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    generator = default_generator() if generator is None else generator
    key = int(generator.integers(0, 2**63))  # one draw per call: the mask is a hash of it (kernels/dropout.py)
    return DropoutFunction.apply(input, key=key, p=float(p), group=group_of(input.shape))


def dropout(input, p=0.5, training=True, generator=None):
    """Zero each value with probability ``p`` and scale the others by 1 / (1 - p), as ``torch.nn.functional.dropout``.

    The identity when ``training`` is false. Masks come from ``generator``
    (default: tinycnn's, which ``tinycnn.manual_seed`` sets). Shape: any; output the same.
    """
    return _dropout("dropout", input, p, training, generator, lambda shape: 1)


def dropout2d(input, p=0.5, training=True, generator=None):
    """Zero whole channels with probability ``p``, scale the others, as ``torch.nn.functional.dropout2d``.

    Shape: input (N, C, H, W), output the same; each (n, c) plane is kept or zeroed as a whole.
    """
    return _dropout("dropout2d", input, p, training, generator, lambda shape: shape[2] * shape[3], four_d=True)


# ----- batch_norm -------------------------------------------------------------------------


class BatchNormFunction(Function):
    """Normalise each channel with the statistics given (``mean``, ``var``), scale and shift, then ReLU if ``relu``.

    ``training`` says whether the statistics were the batch's own, in which
    case they depend on the input and the backward accounts for it. With
    fusion on, a ReLU that follows joins it by setting ``relu``.
    """

    fuses_with = ("relu",)  # the ops tinycnn/fusion.py may fold into it

    @staticmethod
    def forward(ctx, x, weight, bias, *, mean, var, training, eps, relu=False):
        forward_kernel, ctx.backward_kernel = kernels("batch_norm")
        x = np.ascontiguousarray(x)
        C = x.shape[1]
        weight = np.ones(C, dtype=x.dtype) if weight is None else np.ascontiguousarray(weight)
        bias = np.zeros(C, dtype=x.dtype) if bias is None else np.ascontiguousarray(bias)
        out = forward_kernel(x, weight, bias, mean, var, eps, relu)
        ctx.save_for_backward(x, weight, mean, var, out if relu else out[:0])  # the output only for a ReLU's mask
        ctx.training, ctx.eps, ctx.relu = training, eps, relu
        return out

    @staticmethod
    def backward(ctx, dout):
        x, weight, mean, var, out = ctx.saved_tensors
        # with a joined ReLU, the kernel lets dout through only where out > 0
        return ctx.backward_kernel(np.ascontiguousarray(dout), x, out, weight, mean, var, ctx.training, ctx.eps,
                                   ctx.relu)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation of an (N, C, H, W) input, as ``torch.nn.functional.batch_norm``.

    In training, each channel is normalised with the batch's mean and
    variance (divided by N*H*W), and the running estimates, when given, move
    towards them in place: ``running = (1 - momentum) * running + momentum *
    batch``, with the variance's unbiased form (divided by N*H*W - 1), as
    PyTorch keeps it. In evaluation the running estimates are used as they are.

    Shape:
        input: (N, C, H, W); running_mean, running_var: (C,) arrays (or None in training);
        weight, bias: (C,) Tensors or None (then 1 and 0); output: (N, C, H, W)
    """
    op = "batch_norm"
    named = [("input", input)] + [(name, t) for name, t in (("weight", weight), ("bias", bias)) if t is not None]
    _check_floats(op, *named)
    _check_ndim(op, "input", input, 4, "(N, C, H, W)")
    N, C, H, W = input.shape
    for name, t in named[1:]:
        if t.shape != (C,):
            raise ValueError(f"{op}: {name} must have shape ({C},) for input {input.shape}, got {t.shape}")
    running = [None if r is None else (r.data if isinstance(r, Tensor) else r) for r in (running_mean, running_var)]
    for name, r in zip(("running_mean", "running_var"), running):
        if r is not None and (not isinstance(r, np.ndarray) or r.shape != (C,)):
            raise ValueError(f"{op}: {name} must be an array of shape ({C},), got {getattr(r, 'shape', r)!r}")
    if training:
        count = N * H * W
        if count < 2:
            raise ValueError(f"{op}: training needs more than one value per channel, got input {input.shape}")
        batch_statistics, _ = kernels("batch_norm_statistics")
        mean, var = batch_statistics(np.ascontiguousarray(input.data))
        if running[0] is not None:
            running[0] *= 1 - momentum
            running[0] += momentum * mean
        if running[1] is not None:
            running[1] *= 1 - momentum
            running[1] += momentum * var * (count / (count - 1))
    else:
        if running[0] is None or running[1] is None:
            raise ValueError(f"{op}: evaluation needs running_mean and running_var")
        mean, var = (r.astype(input.dtype, copy=False) for r in running)
    options = dict(mean=mean, var=var, training=bool(training), eps=eps)
    if fusion.is_enabled() and not training:  # inference after a conv: a change of the conv's weights
        folded = fusion.fold_batch_norm(input, weight, bias, mean, var, eps)
        if folded is not None:
            return folded
    if fusion.is_enabled():  # not run yet, so that a ReLU that follows can join it
        return fusion.Pending(BatchNormFunction, (input, weight, bias), options, input.shape)
    return BatchNormFunction.apply(input, weight, bias, **options)


# ----- log_softmax, nll_loss, cross_entropy -----------------------------------------------


class LogSoftmaxFunction(Function):
    @staticmethod
    def forward(ctx, x, *, dim):
        moved = np.moveaxis(x, dim, -1)  # the kernel works on rows: bring dim last
        rows = np.ascontiguousarray(moved).reshape(-1, moved.shape[-1])
        forward_kernel, ctx.backward_kernel = kernels("log_softmax")
        out_rows = forward_kernel(rows)
        ctx.save_for_backward(out_rows)
        ctx.dim, ctx.moved_shape = dim, moved.shape
        return np.moveaxis(out_rows.reshape(moved.shape), -1, dim)

    @staticmethod
    def backward(ctx, dout):
        (out_rows,) = ctx.saved_tensors
        dout_rows = np.ascontiguousarray(np.moveaxis(dout, ctx.dim, -1)).reshape(out_rows.shape)
        dx_rows = ctx.backward_kernel(dout_rows, out_rows)
        return np.moveaxis(dx_rows.reshape(ctx.moved_shape), -1, ctx.dim)


def log_softmax(input, dim=1):
    """log(softmax(input)) along ``dim``, computed stably. Shape: any; output the same."""
    op = "log_softmax"
    _check_floats(op, ("input", input))
    if not -input.ndim <= dim < input.ndim:
        raise ValueError(f"{op}: dim {dim} out of range for input of shape {input.shape}")
    return LogSoftmaxFunction.apply(input, dim=dim % input.ndim)


def softmax(input, dim=1):
    """exp(input) / sum(exp(input)) along ``dim``, as ``torch.nn.functional.softmax``.

    It is ``log_softmax(input, dim).exp()``: as stable as log_softmax, and
    its gradient is the two ops' backwards. Shape: any; output the same.
    """
    return log_softmax(input, dim).exp()


class NLLLossFunction(Function):
    @staticmethod
    def forward(ctx, logp, *, target):
        forward_kernel, ctx.backward_kernel = kernels("nll_loss")
        logp = np.ascontiguousarray(logp)
        ctx.save_for_backward(logp, target)
        return forward_kernel(logp, target)

    @staticmethod
    def backward(ctx, dout):
        logp, target = ctx.saved_tensors
        return ctx.backward_kernel(dout.item(), logp, target)


_REDUCTIONS = ("none", "mean", "sum")


def _loss_options(op, input, reduction):
    """Check a loss's input and ``reduction``; return the number of classes C (dim 1, or dim 0 of a 1-D input)."""
    _check_floats(op, ("input", input))
    if input.ndim == 0:
        raise ValueError(f"{op}: input must be (C,), (N, C) or (N, C, d1, ...) class scores, got a 0-d tensor")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    return input.shape[0] if input.ndim == 1 else input.shape[1]


def _class_rows(tensor):
    """A loss's (C,), (N, C) or (N, C, d1, ...) tensor as rows of C class values, (M, C), and the shape of the
    rest: () for (C,), (N,) for (N, C), (N, d1, ...) otherwise, whose M positions the rows follow in order."""
    if tensor.ndim == 1:
        return tensor.reshape(1, -1), ()
    if tensor.ndim == 2:
        return tensor, tensor.shape[:1]
    classes_last = (0,) + tuple(range(2, tensor.ndim)) + (1,)
    return tensor.permute(classes_last).reshape(-1, tensor.shape[1]), (tensor.shape[0],) + tensor.shape[2:]


def _class_weight(op, weight, classes, dtype):
    """``weight`` (C per-class weights: an array, a list or a Tensor) as a (C,) array of the input's dtype."""
    array = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    if array.dtype.kind not in "fiu" or array.shape != (classes,):
        raise ValueError(f"{op}: weight must be {classes} numbers, one per class (shape ({classes},)), got "
                         f"{array.dtype} of shape {array.shape}")
    return array.astype(dtype)


def _class_indices(op, target, shape, classes, ignore_index):
    """``target`` flattened to an int64 array of the M values of ``shape``, each in [0, classes) or ignore_index."""
    array = target.data if isinstance(target, Tensor) else np.asarray(target)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{op}: target must have shape {shape} to match the input, got {array.shape}")
    indices = np.ascontiguousarray(array, dtype=np.int64).reshape(-1)
    counted = indices[indices != ignore_index]
    if counted.size and (counted.min() < 0 or counted.max() >= classes):
        raise ValueError(f"{op}: target values must lie in [0, {classes}) or equal ignore_index ({ignore_index}), "
                         f"got min {counted.min()} and max {counted.max()}")
    return indices


class _Targets(NamedTuple):
    """The class-index targets of M rows: what every class-index loss term needs."""

    place: tuple       # (arange(M), (M,) class per row, 0 where ignored): indexes each row's target entry
    weight: np.ndarray  # (M,) each row's target weight (weight[target], or 1), 0 where the target is ignored
    kept: np.ndarray    # (M,) bool, the rows whose target is not ignore_index
    shape: tuple       # the target's shape, of the 'none' reduction's output


def _targets(op, rows, shape, target, class_weight, ignore_index):
    indices = _class_indices(op, target, shape, rows.shape[1], ignore_index)
    kept = indices != ignore_index
    classes = np.where(kept, indices, 0)
    weight = (np.ones(len(indices), rows.dtype) if class_weight is None else class_weight[classes]) * kept
    return _Targets((np.arange(len(indices)), classes), weight.astype(rows.dtype), kept, shape)


def _reduce(losses, reduction, shape, mean_divisor):
    """The (M,) per-row ``losses`` reduced: laid out in ``shape`` ('none'), summed, or summed and divided."""
    if reduction == "none":
        return losses.reshape(shape)
    if reduction == "sum" or mean_divisor != 0:
        total = losses.sum()
        return total if reduction == "sum" else total / float(mean_divisor)
    # every target ignored (or none at all): PyTorch's mean is NaN, 0 / 0, and its gradient 0, which x * 0 keeps
    return losses.sum() * 0.0 + float("nan")


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """The negative log-likelihood of each target, as ``torch.nn.functional.nll_loss``.

    The loss of row n is -weight[target[n]] * input[n, target[n]] (weight 1
    without ``weight``), 0 where target[n] == ``ignore_index``. ``reduction``
    'none' returns them, 'sum' their sum, 'mean' (the default) their sum
    divided by the sum of the weights of the targets not ignored, which is
    the plain mean without ``weight`` (NaN if every target is ignored, as in
    PyTorch). ``weight`` is a constant: it gets no gradient.

    The default case (2-D input, no ``weight``, 'mean', no target ignored),
    the study's, runs its own kernel pair (kernels/nll.py); the others are
    compositions of Tensor ops.

    Shape:
        input:  (N, C) log-probabilities, or (C,) for one sample, or (N, C, d1, ...) for one per position
        target: (N,) integer class indices in [0, C), () or (N, d1, ...); a NumPy array or a Tensor
        weight: (C,) or None
        output: () scalar, or target's shape for reduction='none'
    """
    op = "nll_loss"
    classes = _loss_options(op, input, reduction)
    rows, shape = _class_rows(input)
    class_weight = None if weight is None else _class_weight(op, weight, classes, input.dtype)
    targets = _targets(op, rows, shape, target, class_weight, ignore_index)
    if input.ndim == 2 and weight is None and reduction == "mean" and targets.kept.all() and len(targets.kept):
        return NLLLossFunction.apply(input, target=targets.place[1])
    losses = -(rows[targets.place] * targets.weight)
    return _reduce(losses, reduction, shape, targets.weight.sum())


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """``nll_loss(log_softmax(input, dim), target, ...)``, dim the class dimension, as ``torch.nn.functional.cross_entropy``.

    ``target`` holds class indices (shape as in ``nll_loss``), or, when it
    has the input's shape, a probability for every class (float; then the
    loss of row n is -sum_c weight[c] * target[n, c] * log_softmax[n, c],
    'mean' divides by the number of rows, and ``ignore_index`` is refused,
    as in PyTorch).

    ``label_smoothing`` ε in [0, 1] mixes the target with the uniform
    distribution over the C classes, with PyTorch's formula: for class
    indices, (1 - ε) * the nll_loss above + ε / C * the same reduction of
    -sum_c weight[c] * log_softmax[n, c] (0 for ignored rows; 'mean' divides
    it by the same sum of target weights); for probabilities, the target
    becomes (1 - ε) * target + ε / C.

    Shape: input (N, C), (C,) or (N, C, d1, ...) unnormalised scores; target (N,), () or (N, d1, ...) class
    indices, or the input's shape; weight (C,) or None; output () scalar, or the target's rows for 'none'.
    """
    op = "cross_entropy"
    classes = _loss_options(op, input, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must lie in [0, 1], got {label_smoothing}")
    log_probabilities = log_softmax(input, dim=0 if input.ndim == 1 else 1)
    class_weight = None if weight is None else _class_weight(op, weight, classes, input.dtype)
    if np.shape(target) == input.shape:
        return _cross_entropy_with_probabilities(log_probabilities, target, class_weight, ignore_index, reduction,
                                                 label_smoothing)
    loss = nll_loss(log_probabilities, target, weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return loss
    rows, shape = _class_rows(log_probabilities)
    targets = _targets(op, rows, shape, target, class_weight, ignore_index)
    weighted = rows if class_weight is None else rows * class_weight
    uniform_losses = -weighted.sum(dim=1) * targets.kept.astype(input.dtype)
    uniform_loss = _reduce(uniform_losses, reduction, shape, targets.weight.sum())
    return loss * (1.0 - label_smoothing) + uniform_loss * (label_smoothing / classes)


def _cross_entropy_with_probabilities(log_probabilities, target, class_weight, ignore_index, reduction,
                                      label_smoothing):
    """``cross_entropy`` against a probability per class: target has log_probabilities' shape."""
    op = "cross_entropy"
    if ignore_index >= 0:
        raise ValueError(f"{op}: ignore_index ({ignore_index}) applies to class-index targets only; a target of the "
                         f"input's shape {log_probabilities.shape} holds probabilities")
    array = target.data if isinstance(target, Tensor) else np.asarray(target)
    if array.dtype.kind != "f":
        raise TypeError(f"{op}: a target of the input's shape {array.shape} holds class probabilities and must be "
                        f"float, got {array.dtype}; class indices have the input's shape without the class dim")
    if not isinstance(target, Tensor):  # a constant array takes the input's dtype; a Tensor must have it already
        target = Tensor(array.astype(log_probabilities.dtype))
    _check_floats(op, ("input", log_probabilities), ("target", target))
    classes = log_probabilities.shape[0 if log_probabilities.ndim == 1 else 1]
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / classes
    rows, shape = _class_rows(log_probabilities * target)
    if class_weight is not None:
        rows = rows * class_weight
    losses = -rows.sum(dim=1)
    return _reduce(losses, reduction, shape, len(losses.data))


def one_hot(tensor, num_classes=-1):
    """Class indices (any shape) -> int64 of that shape + (num_classes,), 1 at each index, as
    ``torch.nn.functional.one_hot``; num_classes=-1 takes the largest index + 1."""
    indices = np.asarray(tensor.data if isinstance(tensor, Tensor) else tensor)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"one_hot: takes integer class indices, got dtype {indices.dtype}")
    if indices.size and indices.min() < 0:
        raise ValueError(f"one_hot: class indices must be >= 0, got {indices.min()}")
    classes = int(indices.max()) + 1 if num_classes == -1 and indices.size else num_classes
    if indices.size and indices.max() >= classes:
        raise ValueError(f"one_hot: class index {indices.max()} is not below num_classes={classes}")
    return Tensor((indices[..., None] == np.arange(classes)).astype(np.int64))


def flatten(input, start_dim=1):
    """Merge the dimensions from ``start_dim`` on into one. (N, C, H, W) -> (N, C*H*W) by default."""
    if not isinstance(input, Tensor):
        raise TypeError(f"flatten: input must be a tinycnn.Tensor, got {type(input).__name__}")
    start_dim = start_dim % max(input.ndim, 1)
    return input.reshape(input.shape[:start_dim] + (-1,))
