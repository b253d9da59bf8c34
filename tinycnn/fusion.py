"""Conv2d, ReLU and max-pool fused into one kernel, with the model's code unchanged.

A model written the usual way,

    x = F.max_pool2d(F.relu(self.conv1(x)), 2)

would run three kernels and store two full-size intermediate arrays. Instead,
``F.conv2d`` returns a *deferred* tensor: it knows its shape and dtype, and
holds a ``ConvPlan`` saying what to compute. ``F.relu`` and ``F.max_pool2d``
applied to such a tensor do not run; they return a new deferred tensor whose
plan also includes them. The first time anything reads the value (``.data``:
the next op, ``.numpy()``, printing, ``backward``) the whole plan runs as one
``conv2d_fused`` kernel, recorded in the graph as one Function of the conv's
input, weight and bias.

The result is the same as the unfused ops', gradient included (the tests
check it). If an intermediate (say the conv output before ReLU) is also used
elsewhere, it is computed on its own when read: correct, only slower.

Set ``TINYCNN_FUSION=0`` in the environment to turn fusion off, e.g. to step
through the plain kernels one by one.
"""

import dataclasses
import os

import numba
import numpy as np

from tinycnn.kernels.conv2d import conv2d_output_size
from tinycnn.kernels.conv2d_fused import conv2d_fused_backward, conv2d_fused_forward
from tinycnn.kernels.maxpool2d import maxpool2d_output_size
from tinycnn.tensor import Function, Tensor, is_grad_enabled, set_grad_enabled

enabled = os.environ.get("TINYCNN_FUSION", "1") != "0"


class FusedConv2dFunction(Function):
    """conv2d + bias, then ReLU if ``relu``, then max-pool if ``pool_kernel`` > 0."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, relu, pool_kernel, pool_stride):
        x, weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
        bias_or_zeros = np.zeros(weight.shape[0], dtype=x.dtype) if bias is None else np.ascontiguousarray(bias)
        out, argmax = conv2d_fused_forward(x, weight, bias_or_zeros, stride, padding, relu, pool_kernel, pool_stride,
                                           numba.get_num_threads())
        ctx.save_for_backward(x, weight, out, argmax)
        ctx.stride, ctx.padding, ctx.relu, ctx.pool = stride, padding, relu, (pool_kernel, pool_stride)
        return out

    @staticmethod
    def backward(ctx, dout):
        x, weight, out, argmax = ctx.saved_tensors
        need_dx = ctx.needs_input_grad[0]
        dx, dweight, dbias = conv2d_fused_backward(np.ascontiguousarray(dout), x, weight, out, argmax, ctx.stride,
                                                   ctx.padding, ctx.relu, *ctx.pool, need_dx, numba.get_num_threads())
        return (dx if need_dx else None), dweight, (dbias if ctx.needs_input_grad[2] else None), \
            None, None, None, None, None


@dataclasses.dataclass(frozen=True)
class ConvPlan:
    """A convolution not yet run, with the ReLU and max-pool that will run inside it.

    The weight and bias values are taken when the plan is made, so an
    optimizer step before the value is read cannot change the result; the
    grad mode is taken then too.
    """

    input: Tensor
    weight: Tensor
    bias: Tensor | None
    weight_data: np.ndarray
    bias_data: np.ndarray | None
    stride: int
    padding: int
    grad_enabled: bool
    relu: bool = False
    pool_kernel: int = 0  # 0: no pooling
    pool_stride: int = 0

    @property
    def dtype(self):
        return self.weight_data.dtype

    @property
    def shape(self):
        N, _, H, W = self.input.shape
        F, _, KH, KW = self.weight_data.shape
        OH = conv2d_output_size(H, KH, self.stride, self.padding)
        OW = conv2d_output_size(W, KW, self.stride, self.padding)
        if self.pool_kernel:
            OH, OW = (maxpool2d_output_size(size, self.pool_kernel, self.pool_stride) for size in (OH, OW))
        return (N, F, OH, OW)

    def run(self):
        args = (self.input, self.weight, self.bias, self.stride, self.padding, self.relu,
                self.pool_kernel, self.pool_stride)
        arrays = (self.input.data, self.weight_data, self.bias_data) + args[3:]
        with set_grad_enabled(self.grad_enabled):
            return FusedConv2dFunction.apply_to_arrays(args, arrays)


def _pending_plan(tensor):
    """The ConvPlan of a tensor not yet computed, made in the grad mode now in force; else None."""
    plan = tensor._plan
    if isinstance(plan, ConvPlan) and plan.grad_enabled == is_grad_enabled():
        return plan
    return None


def _defer(plan):
    inputs = (plan.input, plan.weight, plan.bias)
    requires_grad = plan.grad_enabled and any(t is not None and t.requires_grad for t in inputs)
    return Tensor.deferred(plan, requires_grad)


def deferred_conv2d(input, weight, bias, stride, padding):
    """``conv2d`` as a deferred tensor (inputs already checked by ``F.conv2d``)."""
    return _defer(ConvPlan(input, weight, bias, weight.data, None if bias is None else bias.data,
                           stride, padding, is_grad_enabled()))


def fuse_relu(input):
    """ReLU joined to a pending convolution, or None if ``input`` is not one that can take it."""
    plan = _pending_plan(input)
    if plan is None or plan.relu:
        return None
    return _defer(dataclasses.replace(plan, relu=True))


def fuse_max_pool2d(input, kernel_size, stride):
    """Max-pool joined to a pending convolution, or None if ``input`` is not one that can take it.

    Pooling before or after the ReLU gives the same values and gradients (ReLU
    is monotonic), so a plan that already has its ReLU can still take the pool.
    """
    plan = _pending_plan(input)
    if plan is None or plan.pool_kernel:
        return None
    return _defer(dataclasses.replace(plan, pool_kernel=kernel_size, pool_stride=stride))
