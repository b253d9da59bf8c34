"""Fusion: conv2d then ReLU and max-pool, or batch_norm then ReLU, run as one kernel, with the model's code unchanged.

A model written the usual way,

    x = F.max_pool2d(F.relu(self.conv1(x)), 2)

would run three ops and store, between them, two arrays the size of the conv
output (for the study's first layer, 16 x 26 x 26 values per image, against
16 x 13 x 13 after the pool). With fusion on, ``F.conv2d`` returns a
``Pending`` tensor instead: a Tensor that knows its shape and dtype but has
not been computed. ``F.relu`` and ``F.max_pool2d`` applied to it return a
new Pending that includes them. The first time anything reads its value
(``.data``: the next op, ``.numpy()``, printing, ``backward``), the whole
chain runs as one ``Conv2dFunction`` with ``relu=True`` and
``pool_kernel=2``: one conv node in the graph, one call of the fast conv
kernels (``kernels/fast/conv2d.py``; a first layer's forward, such as the
study's conv1, is ``kernels/fast/conv2d_windows.py``'s), and the full-size
conv output is never stored.

``F.batch_norm`` does the same with the ReLU that usually follows it: the
statistics are taken (and the running ones updated) when it is called, and
the normalisation runs, with the ReLU in the same pass, when the value is
read. In inference (evaluation mode, no gradient recorded), a batch norm
right after a conv is instead folded into the conv's weights
(``fold_batch_norm``), and the ReLU and pool after it join the conv. A
Function says what may join it in ``fuses_with``.

The values and gradients are the unfused ops' (tests/test_fusion.py checks
it). If the conv output is also used elsewhere (read before the ReLU joins,
or used twice), that reading computes it on its own: correct, only slower.

The switch: fusion is on unless the environment sets ``TINYCNN_FUSION=0``,
or the ops run on the reference kernels (``TINYCNN_KERNELS=reference``,
tinycnn/backend.py), which are each op alone.
From code, ``set_enabled(False)`` turns it off for the rest of the program,
or, as a with-block, for the block only (as ``torch.set_grad_enabled`` does)::

    with tinycnn.fusion.set_enabled(False):
        out = model(x)   # conv2d, ReLU and max-pool run one by one, each its own kernel

With fusion off, every op runs its own kernel: the way to step through
them one at a time in a debugger.
"""

import copy
import os

import numpy as np

from tinycnn import backend
from tinycnn.kernels.maxpool2d import maxpool2d_output_size
from tinycnn.tensor import Function, Tensor, is_grad_enabled, set_grad_enabled

_enabled = os.environ.get("TINYCNN_FUSION", "1") != "0"
MAX_FUSED_POOL = 11  # the fused conv keeps each window's winning place in one byte: below 127, so k*k <= 121


def is_enabled():
    """Whether an op may wait for the ops that follow it: fusion on, and the fast kernels in force."""
    return _enabled and backend.mode() == "fast"


class set_enabled:
    """Turn fusion on or off: for the rest of the program if called, for the block only if used in ``with``."""

    def __init__(self, mode):
        global _enabled
        self.previous = _enabled
        _enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        global _enabled
        _enabled = self.previous


class _ValueAtCall(Function):
    """A tensor's earlier value, with its gradient flowing back to the tensor.

    A Pending runs later than PyTorch would run the op. If, in between, a
    tensor it reads got a new array (an optimizer step replaces a
    parameter's: ``p.data = ...``), the op must still see the array it was
    called with, and its gradient must still reach the tensor:
    ``_ValueAtCall.apply(tensor, value=earlier_array)`` is that. It is used only
    then; otherwise the op reads its inputs directly.
    """

    @staticmethod
    def forward(ctx, x, *, value):
        return value

    @staticmethod
    def backward(ctx, dout):
        return dout


class Pending(Tensor):
    """What ``F.conv2d`` and ``F.batch_norm`` return while fusion is on: an op that runs when its value is first read.

    ``function`` is the Function to apply (``F.Conv2dFunction``,
    ``F.BatchNormFunction``), ``inputs`` its tensors (input, weight, bias
    or None), ``options`` its keywords (for a conv: stride, padding, and
    relu, pool_kernel, pool_stride once joined), ``shape`` the output's
    shape. The grad mode is the one in force when the op was called.
    """

    def __init__(self, function, inputs, options, shape):
        # Tensor.__init__ is not called: there is no value yet.
        self.function, self.options, self._shape = function, options, shape
        self.inputs = inputs
        self.values = tuple(None if t is None else t.data for t in inputs)  # the arrays as they are now
        self._dtype = inputs[0].dtype
        self.grad_enabled = is_grad_enabled()
        self.kernel_set = backend.mode()  # the fused kernels are the fast set's, whatever is in force when it runs
        self.requires_grad = self.grad_enabled and any(t is not None and t.requires_grad for t in self.inputs)
        self.grad, self._ctx, self._value = None, None, None

    @property
    def data(self):
        if self._value is None:
            with set_grad_enabled(self.grad_enabled), backend.use(self.kernel_set):
                inputs = [t if t is None or t.data is value else _ValueAtCall.apply(t, value=value)
                          for t, value in zip(self.inputs, self.values)]
                result = self.function.apply(*inputs, **self.options)
            self._value, self._ctx = result.data, result._ctx
            self.inputs = self.values = None  # the graph node holds what the backward needs
        return self._value

    @property
    def is_leaf(self):
        """False: an op's output, even before it has run (``_ctx`` is set only then)."""
        return False

    @data.setter
    def data(self, value):
        self._value, self.inputs, self.values = value, None, None

    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return self._dtype

    @property
    def pending(self):
        """True until the value has been computed."""
        return self._value is None

    def backward(self, gradient=None, retain_graph=False):
        self.data  # compute the value first, which gives this tensor its node in the graph
        super().backward(gradient, retain_graph)

    def joined(self, shape, **options):
        """A new Pending: this one with more options (relu, pool) and the resulting shape."""
        joined = copy.copy(self)
        joined.options, joined._shape = dict(self.options, **options), shape
        return joined


def _joinable(input, what):
    """A Pending not computed yet, made in the grad mode now in force, whose Function takes ``what``."""
    return (isinstance(input, Pending) and input.pending and input.grad_enabled == is_grad_enabled()
            and what in input.function.fuses_with)


def fold_batch_norm(input, weight, bias, mean, var, eps):
    """An evaluation-mode batch norm of a pending convolution, folded into the conv's weights; or None.

    With statistics that are constants (the running ones), batch norm is an
    affine map per channel, ``scale * (conv - mean) + shift`` with ``scale =
    weight / sqrt(var + eps)``, and so is the conv's bias: the two make one
    conv with weights ``conv_weight * scale`` (per filter) and bias
    ``(conv_bias - mean) * scale + shift``. The batch norm then costs no pass
    of its own, and a ReLU and a max-pool that follow join the conv as they
    would without it. Only where no gradient is being recorded (inference):
    a gradient would have to reach the batch norm's weights through the
    folding. The values equal the unfolded ops' to float rounding (the
    products run in another order), not bit for bit.

    input: a Pending conv (N, F, OH, OW) with nothing joined yet; weight, bias: (F,) Tensors or None; mean, var:
    (F,) arrays of the conv's dtype
    """
    if not _joinable(input, "batch_norm") or input.grad_enabled or any(
            input.options.get(joined) for joined in ("relu", "pool_kernel")):
        return None
    conv_input = input.inputs[0]
    _, weight_values, bias_values = input.values  # the arrays as they were when the conv was called
    dtype = weight_values.dtype
    scale = (1.0 if weight is None else weight.data) / np.sqrt(var + eps)
    shift = 0.0 if bias is None else bias.data
    conv_bias = 0.0 if bias_values is None else bias_values
    folded_weight = (weight_values * scale.astype(dtype)[:, None, None, None]).astype(dtype)
    folded_bias = ((conv_bias - mean) * scale + shift).astype(dtype)
    return Pending(input.function, (conv_input, Tensor(folded_weight), Tensor(folded_bias)), input.options,
                   input.shape)


def join_relu(input):
    """ReLU joined to a pending convolution or batch norm, or None if ``input`` is not one that can take it."""
    if not _joinable(input, "relu") or input.options.get("relu"):
        return None
    return input.joined(input.shape, relu=True)


def join_max_pool2d(input, kernel_size, stride):
    """Max-pool joined to a pending convolution, or None if ``input`` is not one that can take it.

    Pooling before or after the ReLU gives the same values and gradients (ReLU
    is monotonic), so a convolution that already has its ReLU can still take
    the pool.
    """
    if not _joinable(input, "max_pool2d") or input.options.get("pool_kernel") or kernel_size > MAX_FUSED_POOL:
        return None
    N, F, OH, OW = input.shape
    shape = (N, F, maxpool2d_output_size(OH, kernel_size, stride), maxpool2d_output_size(OW, kernel_size, stride))
    return input.joined(shape, pool_kernel=kernel_size, pool_stride=stride)
