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


def _class_indices(op, target, batch, classes):
    """``target`` as an int64 array of shape (batch,) with values in [0, classes)."""
    array = target.data if isinstance(target, Tensor) else np.asarray(target)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {array.dtype}")
    if array.shape != (batch,):
        raise ValueError(f"{op}: target must have shape ({batch},) to match the input, got {array.shape}")
    if batch and (array.min() < 0 or array.max() >= classes):
        raise ValueError(
            f"{op}: target values must lie in [0, {classes}), got min {array.min()} and max {array.max()}"
        )
    return np.ascontiguousarray(array, dtype=np.int64)


def nll_loss(input, target):
    """Mean negative log-likelihood, as ``torch.nn.functional.nll_loss``.

    Shape:
        input:  (N, K) log-probabilities
        target: (N,) integer class indices in [0, K), a NumPy array or a Tensor
        output: () scalar
    """
    op = "nll_loss"
    _check_floats(op, ("input", input))
    _check_ndim(op, "input", input, 2, "(N, K)")
    if input.shape[0] == 0:
        raise ValueError(f"{op}: empty batch (input {input.shape})")
    indices = _class_indices(op, target, input.shape[0], input.shape[1])
    return NLLLossFunction.apply(input, target=indices)


def cross_entropy(input, target):
    """``nll_loss(log_softmax(input, dim=1), target)``, as ``torch.nn.functional.cross_entropy``.

    Shape: input (N, K) unnormalised scores, target (N,) class indices, output () scalar.
    """
    return nll_loss(log_softmax(input, dim=1), target)


def flatten(input, start_dim=1):
    """Merge the dimensions from ``start_dim`` on into one. (N, C, H, W) -> (N, C*H*W) by default."""
    if not isinstance(input, Tensor):
        raise TypeError(f"flatten: input must be a tinycnn.Tensor, got {type(input).__name__}")
    start_dim = start_dim % max(input.ndim, 1)
    return input.reshape(input.shape[:start_dim] + (-1,))
