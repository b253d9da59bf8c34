"""Tensor, the Function/ctx contract, and reverse-mode autograd.

A Tensor wraps a NumPy array. Every differentiable operation is a Function
with a static ``forward(ctx, ...)`` and ``backward(ctx, dout)``; calling
``Function.apply`` runs the forward on plain arrays and, when any input
requires a gradient, records the ctx in the output so ``Tensor.backward`` can
walk the graph in reverse.

Gradients accumulate in exactly one place, ``Tensor.backward``: a tensor that
feeds several ops receives the sum of their gradients.
"""

import contextlib

import numpy as np

from tinycnn.kernels.threads import one_blas_thread

DEFAULT_DTYPE = np.float32  # as in PyTorch: parameters and data are float32
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Within this block no graph is recorded (for evaluation and optimizer steps)."""
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = False
    try:
        yield
    finally:
        _grad_enabled = previous


@contextlib.contextmanager
def set_grad_enabled(mode):
    """Within this block, graph recording is on if ``mode`` is true and off otherwise."""
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = bool(mode)
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


class Context:
    """Per-call state of one Function application (never kept on a module).

    ``needs_input_grad[i]`` says whether positional input i is a Tensor that
    requires a gradient, so a backward can skip work (the first conv layer
    skips the gradient of the images).
    """

    def __init__(self, function, inputs):
        self.function = function
        self.inputs = inputs  # positional arguments as given; Tensors among them are the parents
        self.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in inputs)
        self.saved_tensors = ()

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays


class Function:
    """Base class of differentiable operations.

    Subclasses define ``forward(ctx, *args)`` on NumPy arrays (Tensors among
    the arguments arrive as their ``.data``) returning one array, and
    ``backward(ctx, dout)`` returning one gradient per positional argument
    (None where there is none). Backwards return new arrays and never modify
    ``dout``.
    """

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, dout):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        return cls.apply_to_arrays(args, [a.data if isinstance(a, Tensor) else a for a in args])

    @classmethod
    def apply_to_arrays(cls, args, arrays):
        """``apply`` with the input values given as arrays; the graph still links to the Tensors in args."""
        ctx = Context(cls, args)
        with one_blas_thread():
            out = cls.forward(ctx, *arrays)
        requires_grad = _grad_enabled and any(ctx.needs_input_grad)
        result = Tensor(out, requires_grad=requires_grad)
        if requires_grad:
            result._ctx = ctx
        return result


def _as_array(value, dtype=None):
    """``value`` as an ndarray: arrays and NumPy scalars keep their dtype, Python floats become float32."""
    if isinstance(value, (np.ndarray, np.generic)):
        value = np.asarray(value)
        return value if dtype is None else value.astype(dtype, copy=False)
    array = np.asarray(value)
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype.kind == "f":
        return array.astype(DEFAULT_DTYPE)
    return array


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Python lists and scalars become float32 (PyTorch's default dtype); NumPy
    arrays keep their dtype, so a float64 array gives a float64 tensor.
    """

    __array_priority__ = 1000  # so that ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        self._plan = None  # set on tensors whose computation is deferred (see tinycnn/fusion.py)
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"only float32 and float64 tensors can require gradients, got {self.data.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None  # the Context of the Function that made this tensor, if recorded

    @classmethod
    def deferred(cls, plan, requires_grad):
        """A tensor whose value ``plan.run()`` computes when first needed.

        ``plan`` has ``shape`` and ``dtype``, and ``run()`` returning a Tensor
        made by a Function. tinycnn.fusion uses this so that a ReLU or a
        max-pool applied to a convolution's output can join the convolution.
        """
        tensor = cls.__new__(cls)
        tensor._plan, tensor._data = plan, None
        tensor.requires_grad, tensor.grad, tensor._ctx = requires_grad, None, None
        return tensor

    # ----- array-like properties -------------------------------------------------

    @property
    def data(self):
        if self._plan is not None:
            plan, self._plan = self._plan, None
            result = plan.run()
            self._data, self._ctx = result._data, result._ctx
        return self._data

    @data.setter
    def data(self, value):
        self._plan, self._data = None, value

    @property
    def shape(self):
        return self._plan.shape if self._plan is not None else self._data.shape

    @property
    def dtype(self):
        return self._plan.dtype if self._plan is not None else self._data.dtype

    @property
    def ndim(self):
        return len(self.shape)

    def numpy(self):
        return self.data

    def item(self):
        return self.data.item()

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{grad})"

    def detach(self):
        return Tensor(self.data)

    # ----- autograd --------------------------------------------------------------

    def backward(self, gradient=None):
        """Back-propagate from this tensor into every leaf that requires a gradient.

        Called on a scalar without argument, the seed gradient is 1. Leaves
        accumulate into ``.grad`` (``grad = g if grad is None else grad + g``),
        as in PyTorch; call ``zero_grad`` between steps.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the "
                "computation had requires_grad=True, or it ran inside no_grad()"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar, got shape {self.shape}; "
                    "reduce it first (e.g. .sum() or .mean()) or pass a gradient"
                )
            gradient = np.ones_like(self.data)
        else:
            gradient = _as_array(gradient.data if isinstance(gradient, Tensor) else gradient, self.dtype)
            if gradient.shape != self.shape:
                raise ValueError(f"backward(): gradient shape {gradient.shape} != tensor shape {self.shape}")

        self.data  # a deferred root is computed now, so that it has its place in the graph
        grads = {id(self): gradient}
        with one_blas_thread():
            self._backpropagate(grads)

    def _backpropagate(self, grads):
        """Walk the graph from this tensor to the leaves, turning each node's gradient into its inputs'."""
        for node in _topological_order(self):
            dout = grads.pop(id(node), None)
            if dout is None:
                continue  # nothing flowed into this node
            ctx = node._ctx
            if ctx is None:  # a leaf
                node.grad = dout if node.grad is None else node.grad + dout
                continue
            input_grads = ctx.function.backward(ctx, dout)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(ctx.inputs):
                raise RuntimeError(
                    f"{ctx.function.__name__}.backward returned {len(input_grads)} gradients "
                    f"for {len(ctx.inputs)} inputs"
                )
            for parent, grad, needed in zip(ctx.inputs, input_grads, ctx.needs_input_grad):
                if not needed or grad is None:
                    continue
                key = id(parent)
                grads[key] = grad if key not in grads else grads[key] + grad
            node._ctx = None  # the graph is used once: free the saved arrays now

    # ----- element-wise arithmetic with broadcasting -------------------------------

    def __add__(self, other):
        return Add.apply(self, _operand(other, self, "add"))

    def __radd__(self, other):
        return Add.apply(_operand(other, self, "add"), self)

    def __sub__(self, other):
        return Sub.apply(self, _operand(other, self, "sub"))

    def __rsub__(self, other):
        return Sub.apply(_operand(other, self, "sub"), self)

    def __mul__(self, other):
        return Mul.apply(self, _operand(other, self, "mul"))

    def __rmul__(self, other):
        return Mul.apply(_operand(other, self, "mul"), self)

    def __truediv__(self, other):
        return Div.apply(self, _operand(other, self, "div"))

    def __rtruediv__(self, other):
        return Div.apply(_operand(other, self, "div"), self)

    def __neg__(self):
        return Mul.apply(self, Tensor(np.array(-1, dtype=self.dtype)))

    # ----- reductions and views ----------------------------------------------------

    def sum(self):
        return Sum.apply(self)

    def mean(self):
        return Mean.apply(self)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Reshape.apply(self, shape)


def _topological_order(root):
    """Nodes reachable from root, each after every node that depends on it.

    Iterative depth-first search (no recursion, so deep graphs cannot hit
    Python's recursion limit): a node is emitted once all its parents are,
    then the list is reversed so the root comes first.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            for parent in node._ctx.inputs:
                if isinstance(parent, Tensor) and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    order.reverse()
    return order


def _operand(other, like, op_name):
    """The other operand of a binary op as a Tensor of the same dtype.

    Python scalars take the tensor's dtype (as in PyTorch); arrays and tensors
    must already have it, because silently mixing float32 and float64 hides
    precision bugs.
    """
    if isinstance(other, (int, float)):
        return Tensor(np.array(other, dtype=like.dtype))
    other = other if isinstance(other, Tensor) else Tensor(np.asarray(other))
    if other.dtype != like.dtype:
        raise TypeError(
            f"{op_name}: mixed dtypes {like.dtype} and {other.dtype} (shapes {like.shape} and "
            f"{other.shape}); convert one operand first"
        )
    return other


def _check_broadcast(op_name, a, b):
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op_name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, to get ``shape``."""
    if grad.shape == shape:
        return grad
    leading = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(leading))) if leading else grad
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("add", a, b)
        ctx.shapes = (a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx, dout):
        # out = a + b  =>  da = dout, db = dout (summed back over broadcast axes)
        a_shape, b_shape = ctx.shapes
        return unbroadcast(dout, a_shape), unbroadcast(dout, b_shape)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("sub", a, b)
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, dout):
        # out = a - b  =>  da = dout, db = -dout
        a_shape, b_shape = ctx.shapes
        return unbroadcast(dout, a_shape), unbroadcast(-dout, b_shape)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("mul", a, b)
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, dout):
        # out = a * b  =>  da = dout * b, db = dout * a
        a, b = ctx.saved_tensors
        da = unbroadcast(dout * b, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(dout * a, b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("div", a, b)
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, dout):
        # out = a / b  =>  da = dout / b, db = -dout * a / b**2
        a, b = ctx.saved_tensors
        da = unbroadcast(dout / b, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(-dout * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class Sum(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.shape = a.shape
        return np.asarray(a.sum(), dtype=a.dtype)

    @staticmethod
    def backward(ctx, dout):
        # out = sum_i a_i  =>  da_i = dout
        return (np.broadcast_to(dout, ctx.shape).copy(),)


class Mean(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.shape = a.shape
        return np.asarray(a.mean(), dtype=a.dtype)

    @staticmethod
    def backward(ctx, dout):
        # out = sum_i a_i / n  =>  da_i = dout / n
        count = max(int(np.prod(ctx.shape)), 1)
        return (np.broadcast_to(dout / count, ctx.shape).astype(dout.dtype),)


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape shape {a.shape} into {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, dout):
        return dout.reshape(ctx.shape), None
