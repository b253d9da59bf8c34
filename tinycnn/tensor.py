"""Tensor, Function and Context: reverse-mode autograd in one file.

A Tensor wraps a NumPy array. Every operation that gradients flow through is
a Function with two static methods:

    forward(ctx, *arrays, **options) -> array            the op, on plain arrays
    backward(ctx, dout) -> one gradient per input array   dout = d(loss)/d(output)

``SomeFunction.apply(*tensors, **options)`` runs the forward on the tensors'
arrays and, when an input requires a gradient, records a ``Context``: one
node of the graph, holding the arrays the backward needs
(``ctx.save_for_backward``) and, for each input, the node its gradient goes
to next. Options (a stride, a dimension) are keywords, so the positional
inputs are exactly the tensors that gradients flow to, and ``backward``
returns one gradient for each of them.

``Tensor.backward`` sorts the nodes so that each comes after every node that
uses its output, walks them from the output back to the leaves (tensors the
user made, such as parameters), and adds each leaf's gradient into its
``.grad``. A tensor that feeds several ops receives the sum of their
gradients: gradients accumulate in this one place, the walk.

As in PyTorch, the walk frees the arrays each node saved, so a second
backward through the same nodes raises ``RuntimeError`` unless the first one
was called with ``retain_graph=True``.
"""

import functools
import inspect
import threading

import numpy as np

DEFAULT_DTYPE = np.float32  # as in PyTorch: parameters and data are float32
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class _GradMode(threading.local):
    """Whether operations are recorded for backward: one flag per thread, as in PyTorch (each starts recording)."""

    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled():
    return _grad_mode.enabled


class set_grad_enabled:
    """Record operations for backward if ``mode`` is true, and not otherwise; as ``torch.set_grad_enabled``:

        set_grad_enabled(False)            # a call: from here on, in this thread
        with set_grad_enabled(False): ...  # for the block, then as it was
        @set_grad_enabled(False)           # for every call of the function
    """

    def __init__(self, mode):
        self.previous, self.mode = _grad_mode.enabled, bool(mode)
        _grad_mode.enabled = self.mode

    def __enter__(self):
        return None

    def __exit__(self, *exception):
        _grad_mode.enabled = self.previous

    def __call__(self, function):
        _grad_mode.enabled = self.previous  # used as a decorator: making it was not meant to change the mode
        return _run_in_mode(function, lambda: set_grad_enabled(self.mode))


class _GradModeBlock:
    """A with-block and a decorator (``@no_grad`` or ``@no_grad()``) within which the grad mode is ``mode``.

    ``mode`` None leaves the mode as it is (``inference_mode(False)``).
    """

    mode = None

    def __new__(cls, function=None):
        block = super().__new__(cls)
        return block if function is None else block(function)

    def __enter__(self):
        self.previous = _grad_mode.enabled
        if self.mode is not None:
            _grad_mode.enabled = self.mode

    def __exit__(self, *exception):
        _grad_mode.enabled = self.previous

    def __call__(self, function):
        return _run_in_mode(function, self._another)

    def _another(self):
        """A fresh block like this one: each call of a decorated function enters its own, so that calls can nest."""
        return type(self)()


def _run_in_mode(function, block):
    """``function`` decorated so that its body runs inside a fresh ``block()``.

    A generator function's body runs inside the block each time the
    generator is resumed, and its caller runs outside it between two
    ``yield``s, as PyTorch's decorators do: a ``@no_grad`` generator of
    batches records nothing, and the loop consuming it still records.
    """
    if not inspect.isgeneratorfunction(function):
        @functools.wraps(function)
        def in_mode(*args, **kwargs):
            with block():
                return function(*args, **kwargs)

        return in_mode

    @functools.wraps(function)
    def generator_in_mode(*args, **kwargs):
        generator = function(*args, **kwargs)
        try:
            with block():
                response = generator.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with block():
                        generator.close()
                    raise
                except BaseException as error:  # thrown in by the caller: the generator's own code handles it
                    with block():
                        response = generator.throw(error)
                else:
                    with block():
                        response = generator.send(request)
        except StopIteration as finished:
            return finished.value

    return generator_in_mode


class no_grad(_GradModeBlock):
    """Within this block (or decorated function) nothing is recorded: for evaluation and optimizer steps."""

    mode = False


class enable_grad(_GradModeBlock):
    """Within this block (or decorated function) operations are recorded, even inside ``no_grad``."""

    mode = True


class inference_mode(_GradModeBlock):
    """``no_grad`` under the name PyTorch gives its faster variant: ``with inference_mode():``, ``@inference_mode``,
    ``@inference_mode()``.

    tinycnn has no separate inference mode: this records nothing, exactly as
    ``no_grad`` does, so that scripts written with it run unchanged. What
    PyTorch's adds (no version counters; tensors that can never join a graph
    later) has nothing to act on here. ``inference_mode(False)`` leaves the
    grad mode as it is, as in PyTorch.
    """

    mode = False
    inference = True

    def __new__(cls, mode=True):
        if callable(mode):  # @inference_mode, bare
            return super().__new__(cls, mode)
        block = super().__new__(cls)
        block.inference = bool(mode)
        block.mode = False if mode else None
        return block

    def _another(self):
        return inference_mode(self.inference)


class Context:
    """One node of the graph: one application of a Function.

    ``function``          the Function class whose ``backward`` this node runs
    ``parents[i]``        where the gradient of positional input i goes next: the
                          Context that made input i, or input i itself if it is a
                          leaf that requires a gradient, or None if it needs none
    ``needs_input_grad``  ``parents[i] is not None`` for each input, so that a
                          backward can skip work (the first conv layer skips the
                          gradient of the images)
    ``saved_tensors``     the arrays the forward saved for the backward

    A Function keeps small facts (shapes, strides) as plain attributes of the
    ctx and every array through ``save_for_backward``: those are what a
    backward without ``retain_graph`` frees. The node refers to the nodes
    before it, never to the tensors an op made (only leaves are referred to
    directly), so a graph that has been back-propagated holds no
    activations.
    """

    def __init__(self, function, inputs):
        self.function = function
        self.parents = tuple(_gradient_destination(value) for value in inputs)
        self.needs_input_grad = tuple(parent is not None for parent in self.parents)
        self._saved = ()

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        if self.is_freed:
            raise RuntimeError(_freed_message(self.function))
        return self._saved

    @property
    def is_freed(self):
        return self._saved is None

    def free_saved(self):
        """Drop the saved arrays (a node that saved none stays usable, as in PyTorch)."""
        if self._saved:
            self._saved = None


def _freed_message(function):
    return (f"backward through {function.__name__} a second time: the arrays it saved for its backward were "
            f"freed by the first backward(). To back-propagate through the same graph twice (two losses on one "
            f"trunk, say), call the first one as backward(retain_graph=True), as in PyTorch.")


def _gradient_destination(value):
    """Where the gradient of an op's input goes: the node that made it, the leaf itself, or None."""
    if not isinstance(value, Tensor) or not value.requires_grad:
        return None
    return value._ctx if value._ctx is not None else value


class Function:
    """Base class of differentiable operations.

    Subclasses define ``forward(ctx, *arrays, **options)`` returning one array,
    and ``backward(ctx, dout)`` returning one gradient per positional input
    (None where there is none; a single gradient may be returned bare).
    Positional inputs are Tensors (or None, e.g. an absent bias) and arrive in
    ``forward`` as their arrays; options are keywords and arrive as given.
    Backwards return new arrays and never modify ``dout``.
    """

    @staticmethod
    def forward(ctx, *arrays, **options):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, dout):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        for value in inputs:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{cls.__name__}.apply: positional inputs must be Tensors (or None), got "
                                f"{type(value).__name__}; pass options such as a stride as keywords")
        # Values are read before the node is made: a tensor may compute its value when it is
        # first read, and it gets its own place in the graph then.
        arrays = [None if value is None else value.data for value in inputs]
        ctx = Context(cls, inputs)
        out = cls.forward(ctx, *arrays, **options)
        recorded = _grad_mode.enabled and any(ctx.needs_input_grad)
        result = Tensor(out, requires_grad=recorded)
        if recorded:
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

    Python floats (and lists of them) become float32, PyTorch's default
    dtype; Python ints stay integers; NumPy arrays keep their dtype, so a
    float64 array gives a float64 tensor.

    ``data`` is the array, ``grad`` the accumulated gradient (leaves only),
    ``_ctx`` the node of the op that made this tensor (None for a leaf). A
    subclass may compute ``data`` when it is first read, setting ``_ctx``
    then (tinycnn/fusion.py does).
    """

    __array_priority__ = 1000  # so that ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"only float32 and float64 tensors can require gradients, got {self.data.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None

    # ----- array-like properties -------------------------------------------------

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

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

    def backward(self, gradient=None, retain_graph=False):
        """Back-propagate from this tensor into every leaf that requires a gradient.

        Called on a scalar without ``gradient``, the seed gradient is 1.
        Leaves accumulate into ``.grad`` (``grad = g if grad is None else
        grad + g``), as in PyTorch; call ``zero_grad`` between steps. The
        arrays the graph saved are freed on the way unless ``retain_graph``;
        a later backward that needs them raises ``RuntimeError``.
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
        _backpropagate(self._ctx if self._ctx is not None else self, gradient, retain_graph)

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

    # ----- element-wise comparisons: a bool Tensor, as in PyTorch ------------------------

    def __eq__(self, other):
        return _compare(np.equal, self, other, "eq")

    def __ne__(self, other):
        return _compare(np.not_equal, self, other, "ne")

    def __lt__(self, other):
        return _compare(np.less, self, other, "lt")

    def __le__(self, other):
        return _compare(np.less_equal, self, other, "le")

    def __gt__(self, other):
        return _compare(np.greater, self, other, "gt")

    def __ge__(self, other):
        return _compare(np.greater_equal, self, other, "ge")

    # Defining __eq__ would make Tensors unhashable; as in PyTorch they hash by identity, so that a tensor can
    # still be a dict key or a set member (a dict compares keys by identity before it would call __eq__).
    __hash__ = object.__hash__

    def __bool__(self):
        """The truth of a one-value tensor (``if loss < 0.1:``); for more values it is ambiguous, as in PyTorch."""
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} ({self.data.size} values) is "
                               "ambiguous; reduce it first, e.g. (a == b).numpy().all() or .any()")
        return bool(self.data)

    # ----- reductions and views ----------------------------------------------------

    def sum(self):
        """The sum of every value; of a bool or integer tensor, an int64 count, as in PyTorch."""
        return Sum.apply(self)

    def mean(self):
        if self.dtype.kind != "f":
            raise TypeError(f"mean: needs a float tensor, got {self.dtype}, as in PyTorch; count with .sum(), "
                            "which gives int64, or make the tensor float first")
        return Mean.apply(self)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Reshape.apply(self, shape=shape)


# ----- the graph walk ------------------------------------------------------------------------


def _backpropagate(start, gradient, retain_graph):
    """Turn the gradient of ``start`` (a node, or a leaf) into the gradients of every leaf below it."""
    order = _topological_order(start)
    for node in order:  # refuse before any leaf is touched, so that nothing is half done
        if isinstance(node, Context) and node.is_freed:
            raise RuntimeError(_freed_message(node.function))
    grads = {id(start): gradient}  # node -> the sum of the gradients that reached it so far
    for node in order:
        dout = grads.pop(id(node), None)
        if isinstance(node, Tensor):  # a leaf: the one place where gradients are stored
            if dout is not None:
                node.grad = dout if node.grad is None else node.grad + dout
            continue
        if dout is not None:
            input_grads = node.function.backward(node, dout)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(node.parents):
                raise RuntimeError(f"{node.function.__name__}.backward returned {len(input_grads)} gradients "
                                   f"for {len(node.parents)} inputs")
            for parent, grad in zip(node.parents, input_grads):
                if parent is None or grad is None:
                    continue
                key = id(parent)
                grads[key] = grad if key not in grads else grads[key] + grad  # a node used twice gets the sum
        if not retain_graph:
            node.free_saved()


def _topological_order(start):
    """The nodes and leaves below ``start``, each after every node that uses its output.

    Iterative depth-first search (no recursion, so deep graphs cannot hit
    Python's recursion limit): a node is emitted once all its parents are,
    then the list is reversed so that ``start`` comes first.
    """
    order, visited = [], set()
    stack = [(start, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node.parents if isinstance(node, Context) else ():  # a leaf has none
            if parent is not None and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


# ----- element-wise ops --------------------------------------------------------------------


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


def _compare(compare, tensor, other, op_name):
    """``compare(tensor, other)`` element-wise (``compare`` is np.equal, np.less, ...) as a bool Tensor.

    Operands of other dtypes are promoted as NumPy does, and a Python number
    takes the tensor's dtype, as in PyTorch: ``Tensor([0.1]) == 0.1`` is true
    in float32. Nothing is recorded (a comparison has no gradient). For what
    is not a number, an array or a Tensor (None, a string) it returns
    NotImplemented, so Python compares by identity: ``t == None`` is False.
    """
    if isinstance(other, Tensor):
        other = other.data
    elif not isinstance(other, (np.ndarray, np.generic, int, float, list, tuple)):
        return NotImplemented
    try:
        np.broadcast_shapes(tensor.shape, np.shape(other))
    except ValueError:
        raise ValueError(f"{op_name}: shapes {tensor.shape} and {np.shape(other)} cannot be broadcast "
                         "together") from None
    return Tensor(np.asarray(compare(tensor.data, other)))


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
        return np.asarray(a.sum(), dtype=a.dtype if a.dtype.kind == "f" else np.int64)  # a count of bools: int64

    @staticmethod
    def backward(ctx, dout):
        # out = sum_i a_i  =>  da_i = dout
        return np.broadcast_to(dout, ctx.shape).copy()


class Mean(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.shape = a.shape
        return np.asarray(a.mean(), dtype=a.dtype)

    @staticmethod
    def backward(ctx, dout):
        # out = sum_i a_i / n  =>  da_i = dout / n
        count = max(int(np.prod(ctx.shape)), 1)
        return np.broadcast_to(dout / count, ctx.shape).astype(dout.dtype)


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, *, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape shape {a.shape} into {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, dout):
        # a view: the gradient is dout laid out in the input's shape
        return dout.reshape(ctx.shape)
