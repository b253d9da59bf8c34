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

The file ends with PyTorch's module-level makers (``tensor``, ``zeros``,
``ones``, ``randn``, ``from_numpy``, ``cat``, ``stack``), which the package
exports as ``tinycnn.tensor`` and so on.
"""

import functools
import inspect
import math
import threading
from typing import NamedTuple

import numpy as np

from tinycnn.random import default_generator

DEFAULT_DTYPE = np.float32  # as in PyTorch: parameters and data are float32
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class _GradMode(threading.local):
    """Whether operations are recorded for backward: one flag per thread, as in PyTorch (each starts recording)."""

    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled():
    """Whether operations are being recorded for backward now (False inside ``no_grad``)."""
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
        """The sizes of the dimensions, a tuple (PyTorch's is a ``torch.Size``, also a tuple)."""
        return self.data.shape

    @property
    def dtype(self):
        """The NumPy dtype of the values: ``tinycnn.float32`` is ``numpy.float32``."""
        return self.data.dtype

    @property
    def is_leaf(self):
        """True for a tensor no recorded op made (a parameter, an input; anything that requires no gradient), as
        PyTorch's ``is_leaf``."""
        return self._ctx is None

    @property
    def ndim(self):
        """The number of dimensions."""
        return len(self.shape)

    def size(self, dim=None):
        """The shape (a tuple, as PyTorch's ``torch.Size`` is), or with ``dim`` the size of that dimension."""
        return self.shape if dim is None else self.shape[_dim("size", dim, self.ndim)]

    def numel(self):
        """The number of values."""
        return math.prod(self.shape)

    def numpy(self):
        """The values as a NumPy array: the tensor's own array, not a copy, as PyTorch shares its memory."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)`` is ``t.data`` (else NumPy would walk the tensor value by value, as a sequence)."""
        return np.array(self.data, dtype=dtype, copy=copy)

    def item(self):
        """The one value of a one-value tensor, as a Python number."""
        return self.data.item()

    def tolist(self):
        """The values as nested Python lists (a number for a 0-d tensor), as ``torch.Tensor.tolist``."""
        return self.data.tolist()

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place and return the tensor, as ``torch.Tensor.requires_grad_``."""
        self.requires_grad = bool(requires_grad)
        return self

    def __float__(self):
        return float(self._one_value("float"))

    def __int__(self):
        return int(self._one_value("int"))

    def _one_value(self, op):
        if self.data.size != 1:
            raise ValueError(f"{op}(): needs a tensor of one value, got shape {self.shape}; reduce it first "
                             "(.sum(), .mean()) or index one value (t[0])")
        return self.data.item()

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor: it has no dimensions to count; use .item() for its value")
        return len(self.data)

    def __iter__(self):
        """The tensors ``self[0]``, ``self[1]``, ...: each keeps its place in the graph, as in PyTorch."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor; use .item() for its value")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{grad})"

    # ----- copies and dtypes -------------------------------------------------------------

    def detach(self):
        """The same values (the same array, not a copy, as in PyTorch) outside the graph: no gradient flows back."""
        return Tensor(self.data)

    def clone(self):
        """A copy of the values that stays in the graph: its gradient flows back to this tensor."""
        return Clone.apply(self)

    def to(self, *args, **kwargs):
        """This tensor as ``dtype``; itself when it has that dtype already, as in PyTorch.

        Takes PyTorch's forms: ``to(dtype)``, ``to("cpu")`` or ``to(device)``
        (the tensor itself: tinycnn runs on the CPU only, and refuses other
        devices), ``to(device, dtype)``, ``to(other_tensor)``. A change between
        float32 and float64 is recorded (the gradient comes back in this
        tensor's dtype); a change to an integer or bool dtype leaves the
        graph, as in PyTorch.
        """
        from tinycnn.device import dtype_of_to_arguments

        dtype = dtype_of_to_arguments("Tensor", args, kwargs)
        if dtype is None or dtype == self.dtype:
            return self
        if dtype.kind != "f":
            return Tensor(self.data.astype(dtype))
        return Cast.apply(self, dtype=dtype)

    def float(self):
        """This tensor as float32 (``to(tinycnn.float32)``)."""
        return self.to(np.float32)

    def double(self):
        """This tensor as float64 (``to(tinycnn.float64)``): what the gradient checks run in."""
        return self.to(np.float64)

    def long(self):
        """This tensor as int64, the dtype of class indices; outside the graph."""
        return self.to(np.int64)

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
        return Add.apply(*_operands(self, other, "add"))

    def __radd__(self, other):
        return Add.apply(*reversed(_operands(self, other, "add")))

    def __sub__(self, other):
        return Sub.apply(*_operands(self, other, "sub"))

    def __rsub__(self, other):
        return Sub.apply(*reversed(_operands(self, other, "sub")))

    def __mul__(self, other):
        return Mul.apply(*_operands(self, other, "mul"))

    def __rmul__(self, other):
        return Mul.apply(*reversed(_operands(self, other, "mul")))

    def __truediv__(self, other):
        return Div.apply(*_operands(self, other, "div", divide=True))

    def __rtruediv__(self, other):
        return Div.apply(*reversed(_operands(self, other, "div", divide=True)))

    # ----- in place: what a manual update under no_grad writes -------------------------

    def _update(self, op_name, compute):
        """Give this tensor the values ``compute(self.data)`` returns, keeping its dtype: PyTorch's in-place ops.

        Used as PyTorch uses them, in a manual update under ``no_grad`` (``p -= lr * p.grad``) or on a tensor
        that records nothing; while gradients are recorded, a tensor that requires one is refused, as PyTorch
        refuses a leaf. The tensor gets a new array rather than having its array overwritten, so that a graph
        that saved the old values for its backward still has them (PyTorch would raise there instead).
        """
        if is_grad_enabled() and (self.requires_grad or self._ctx is not None):
            raise RuntimeError(f"{op_name}: a tensor that requires a gradient (or was made while recording) cannot "
                               "be changed in place while gradients are recorded; do it inside `with "
                               "tinycnn.no_grad():`, as in PyTorch")
        values = np.asarray(compute(self.data))
        if self.dtype.kind in "biu" and values.dtype.kind == "f":
            raise TypeError(f"{op_name}: the result is float and this tensor is {self.dtype}; PyTorch refuses the "
                            "cast too: convert the tensor first (.float())")
        self.data = values.astype(self.dtype, copy=False).reshape(self.shape)
        return self

    def add_(self, other, alpha=1):
        """self += alpha * other, in place (see ``_update``)."""
        other = other.data if isinstance(other, Tensor) else other
        return self._update("add_", lambda data: data + (other if alpha == 1 else alpha * other))

    def sub_(self, other, alpha=1):
        """self -= alpha * other, in place."""
        other = other.data if isinstance(other, Tensor) else other
        return self._update("sub_", lambda data: data - (other if alpha == 1 else alpha * other))

    def mul_(self, other):
        """self *= other, in place."""
        other = other.data if isinstance(other, Tensor) else other
        return self._update("mul_", lambda data: data * other)

    def div_(self, other):
        """self /= other, in place."""
        other = other.data if isinstance(other, Tensor) else other
        return self._update("div_", lambda data: data / other)

    def zero_(self):
        """Every value 0, in place."""
        return self._update("zero_", np.zeros_like)

    def fill_(self, value):
        """Every value ``value``, in place."""
        return self._update("fill_", lambda data: np.full_like(data, value))

    def copy_(self, source):
        """The values of ``source`` (broadcast to this shape), in place."""
        source = source.data if isinstance(source, Tensor) else np.asarray(source)
        # a copy: a broadcast view would be read-only, and would share the source's memory
        return self._update("copy_", lambda data: np.array(np.broadcast_to(source, data.shape)))

    # ``x += y``: in place as above, except on a tensor an op made while recording (``out += identity`` in a
    # residual block), where Python's fallback, ``x = x + y``, is what keeps the gradient right: the name is
    # rebound to a new node of the graph.
    def __iadd__(self, other):
        return self + other if self._recorded() else self.add_(other)

    def __isub__(self, other):
        return self - other if self._recorded() else self.sub_(other)

    def __imul__(self, other):
        return self * other if self._recorded() else self.mul_(other)

    def __itruediv__(self, other):
        return self / other if self._recorded() else self.div_(other)

    def _recorded(self):
        return is_grad_enabled() and not self.is_leaf and self.requires_grad

    def __neg__(self):
        return Mul.apply(self, Tensor(np.array(-1, dtype=self.dtype)))

    def __pow__(self, exponent):
        """Each value to the power ``exponent``, a Python number (a tensor as the exponent is not supported)."""
        if isinstance(exponent, np.generic):
            exponent = exponent.item()  # a NumPy float64 would turn a float32 tensor into float64
        if isinstance(exponent, bool) or not isinstance(exponent, (int, float)):
            raise TypeError(f"pow: the exponent must be a Python number, got {type(exponent).__name__}; tinycnn "
                            "raises tensors to a number only")
        if self.dtype.kind != "f" and not (isinstance(exponent, int) and exponent >= 0):
            raise TypeError(f"pow: a {self.dtype} tensor takes only a non-negative int exponent, got {exponent!r}; "
                            "make it float first with .float()")
        return Pow.apply(self, exponent=exponent)

    def __matmul__(self, other):
        return MatMul.apply(self, _matmul_operand(other, self))

    def __rmatmul__(self, other):
        return MatMul.apply(_matmul_operand(other, self), self)

    def exp(self):
        """e to the power of each value."""
        return Exp.apply(_float_only("exp", self))

    def log(self):
        """The natural logarithm of each value."""
        return Log.apply(_float_only("log", self))

    def abs(self):
        """|x| for each value; its gradient is sign(x) (0 at 0, as PyTorch's)."""
        return Abs.apply(self)

    def var(self, dim=None, keepdim=False, *, correction=1, unbiased=None):
        """The variance over ``dim`` (every value without it), divided by count - correction (1: Bessel's
        correction, PyTorch's default; ``unbiased=False`` is correction 0). Made of mean, sub, mul and sum, so its
        gradient is theirs."""
        correction = (1 if unbiased else 0) if unbiased is not None else correction
        dims = _dims("var", dim, self.ndim)
        centred = self - self.mean(dim=dims, keepdim=True)
        return (centred * centred).sum(dims, keepdim=keepdim) / max(_reduced_count(self.shape, dims) - correction, 0)

    def std(self, dim=None, keepdim=False, *, correction=1, unbiased=None):
        """The square root of ``var`` with the same arguments, as ``torch.std``."""
        return self.var(dim, keepdim, correction=correction, unbiased=unbiased) ** 0.5

    def logsumexp(self, dim, keepdim=False):
        """log(sum(exp(x))) over ``dim``, computed as m + log(sum(exp(x - m))) with m the largest value (detached:
        the result does not depend on it), so that large values do not overflow; as ``torch.logsumexp``."""
        dims = _dims("logsumexp", dim, self.ndim)
        largest = Tensor(self.data.max(axis=dims, keepdims=True))
        total = (self - largest).exp().sum(dims, keepdim=True).log() + largest
        return total if keepdim else total.squeeze(dims)

    def cpu(self):
        """The tensor itself: tinycnn runs on the CPU only."""
        return self

    def dim(self):
        """The number of dimensions, as ``ndim``."""
        return self.ndim

    def t(self):
        """A 2-D tensor's transpose (a 1-D or 0-D tensor as it is), as ``torch.Tensor.t``."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor of at most 2 dimensions, got shape {self.shape}; use "
                             "transpose(dim0, dim1) or permute")
        return self.T if self.ndim == 2 else self

    def view_as(self, other):
        """``view(other.shape)``."""
        return self.view(other.shape)

    def eq(self, other):
        """``self == other``, element-wise."""
        return self == other

    def ne(self, other):
        """``self != other``, element-wise."""
        return self != other

    def softmax(self, dim):
        """``F.softmax(self, dim)``."""
        from tinycnn import functional as F  # here, not at the top: functional.py imports this module

        return F.softmax(self, dim)

    def log_softmax(self, dim):
        """``F.log_softmax(self, dim)``."""
        from tinycnn import functional as F

        return F.log_softmax(self, dim)

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

    # ----- reductions ---------------------------------------------------------------------------
    # ``dim`` is one dimension or a tuple of them (None: every value); ``keepdim`` keeps each reduced one with size 1.

    def sum(self, dim=None, keepdim=False):
        """The sum over ``dim``; of a bool or integer tensor, an int64 count, as in PyTorch."""
        return Sum.apply(self, dim=_dims("sum", dim, self.ndim), keepdim=keepdim)

    def mean(self, dim=None, keepdim=False):
        """The mean over ``dim`` (every value without it), of a float tensor, as ``torch.mean``."""
        if self.dtype.kind != "f":
            raise TypeError(f"mean: needs a float tensor, got {self.dtype}, as in PyTorch; count with .sum(), "
                            "which gives int64, or make the tensor float first")
        return Mean.apply(self, dim=_dims("mean", dim, self.ndim), keepdim=keepdim)

    def max(self, dim=None, keepdim=False):
        """The largest value; with ``dim``, the pair ``(values, indices)`` along it, as ``torch.max``.

        Without ``dim``, tied maxima share the gradient equally; along ``dim``
        the first of them (the one ``indices`` names) takes it. Both as in PyTorch.
        """
        return self._extreme("max", np.argmax, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        """The smallest value; with ``dim``, the pair ``(values, indices)`` along it, as ``torch.min`` (see max)."""
        return self._extreme("min", np.argmin, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        """The int64 index of the largest value along ``dim`` (of the flattened tensor without ``dim``); the first
        at a tie. ``output.argmax(dim=1)`` is a batch's predicted classes."""
        dim = None if dim is None else _dim("argmax", dim, self.ndim)
        return Tensor(np.asarray(np.argmax(self.data, axis=dim, keepdims=keepdim), dtype=np.int64))

    def argmin(self, dim=None, keepdim=False):
        """As ``argmax``, for the smallest value."""
        dim = None if dim is None else _dim("argmin", dim, self.ndim)
        return Tensor(np.asarray(np.argmin(self.data, axis=dim, keepdims=keepdim), dtype=np.int64))

    def _extreme(self, op, arg, dim, keepdim):
        if dim is None:
            return Extreme.apply(self, largest=op == "max")
        if isinstance(dim, Tensor):
            raise TypeError(f"{op}(other): the element-wise {op}imum of two tensors is not in tinycnn; "
                            f"{op}(dim) reduces along a dimension")
        dim = _dim(op, dim, self.ndim)
        indices = arg(self.data, axis=dim, keepdims=True).astype(np.int64)
        values = TakeAlongDim.apply(self, indices=indices, dim=dim, keepdim=keepdim)
        return ValuesIndices(values, Tensor(indices if keepdim else indices.squeeze(dim)))

    # ----- shapes: views of the same values, laid out anew --------------------------------------

    def reshape(self, *shape):
        """The same values in another shape, ``reshape(2, -1)`` or ``reshape((2, -1))``; the gradient flows back."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Reshape.apply(self, shape=shape)

    def view(self, *shape):
        """``reshape`` under its other PyTorch name. Where PyTorch's view refuses (after ``.T``, say), this copies."""
        return self.reshape(*shape)

    def flatten(self, start_dim=0, end_dim=-1):
        """The dimensions ``start_dim`` to ``end_dim`` merged into one, as ``torch.flatten``."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = _dim("flatten", start_dim, self.ndim), _dim("flatten", end_dim, self.ndim)
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {self.shape})")
        return self.reshape(self.shape[:start] + (math.prod(self.shape[start:end + 1]),) + self.shape[end + 1:])

    def unsqueeze(self, dim):
        """A new dimension of size 1 at ``dim`` (from -ndim - 1 to ndim)."""
        dim = _dim("unsqueeze", dim, self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim=None):
        """Without the dimensions of size 1 (of those in ``dim`` only, if given; others are kept, as in PyTorch)."""
        dims = range(self.ndim) if dim is None else _dims("squeeze", dim, self.ndim)
        return self.reshape(tuple(size for i, size in enumerate(self.shape) if not (i in dims and size == 1)))

    def permute(self, *dims):
        """The dimensions reordered: dimension i of the result is dimension ``dims[i]`` of this tensor."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        dims = tuple(_dim("permute", d, self.ndim) for d in dims)
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not an order of the {self.ndim} dimensions of shape {self.shape}")
        return Permute.apply(self, dims=dims)

    def transpose(self, dim0, dim1):
        """Dimensions ``dim0`` and ``dim1`` swapped."""
        dims = list(range(self.ndim))
        dim0, dim1 = _dim("transpose", dim0, self.ndim), _dim("transpose", dim1, self.ndim)
        dims[dim0], dims[dim1] = dim1, dim0
        return Permute.apply(self, dims=tuple(dims))

    @property
    def T(self):
        """The dimensions in reverse order: a 2-D tensor's transpose."""
        return Permute.apply(self, dims=tuple(reversed(range(self.ndim))))

    # ----- indexing ------------------------------------------------------------------------------

    def __setitem__(self, key, value):
        """``t[key] = value`` (and ``t[key] += value``) into a tensor that records no gradient, in place, as in
        PyTorch: a confusion matrix, a buffer of predictions. A tensor that requires a gradient, or one an op made
        while recording, is refused: tinycnn's backward does not follow in-place changes."""
        if self.requires_grad or self._ctx is not None:
            raise RuntimeError("item assignment into a tensor that records gradients is not supported: tinycnn's "
                               "backward does not follow in-place changes; assign inside `with tinycnn.no_grad():` "
                               "into a tensor made there (or .detach() first)")
        self.data[_array_key(key)] = value.data if isinstance(value, Tensor) else value

    def __getitem__(self, key):
        """``t[0]``, ``t[1:3]``, ``t[:, 0]``, ``t[..., None]``, ``t[mask]``, ``t[[0, 2]]``: NumPy's indexing, which is
        PyTorch's for all of these (a key may hold Tensors). The gradient goes back to the entries picked."""
        return Index.apply(self, key=_array_key(key))


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


def _operands(tensor, other, op_name, divide=False):
    """(tensor, other) as two Tensors of one dtype, for an arithmetic op, promoted as PyTorch promotes them.

    A float tensor keeps its dtype (``_operand``). An integer or bool tensor
    meeting a Python float, or any true division of integers, gives float32,
    PyTorch's default float dtype: ``uint8_images / 255.0`` is float32 and
    ``int_tensor * 0.5`` halves the values, where casting the number to the
    tensor's dtype would give 0. An integer tensor meeting a float tensor
    takes the float tensor's dtype.
    """
    if tensor.dtype.kind in "biu":
        float_number = isinstance(other, float) or (divide and isinstance(other, int) and not isinstance(other, bool))
        other_tensor = other if isinstance(other, Tensor) else None
        if float_number or (divide and other_tensor is not None and other_tensor.dtype.kind in "biu"):
            tensor = tensor.to(np.float32)
            other = other_tensor.to(np.float32) if other_tensor is not None else other
        elif other_tensor is not None and other_tensor.dtype.kind == "f":
            tensor = tensor.to(other_tensor.dtype)
    return tensor, _operand(other, tensor, op_name)


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


def _dim(op, dim, ndim):
    """``dim`` as an index in [0, ndim); negative ones count from the end, as in PyTorch."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for {ndim} dimensions; use one in [{-ndim}, {ndim - 1}]")
    return int(dim) % ndim


def _dims(op, dim, ndim):
    """``dim`` (an int, a tuple or list of them, or None for all) as a sorted tuple of indices in [0, ndim), or None."""
    if dim is None:
        return None
    dims = sorted(_dim(op, d, ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,)))
    if len(set(dims)) != len(dims):
        raise ValueError(f"{op}: dim {dim!r} names a dimension twice")
    return tuple(dims)


def _array_key(key):
    """An index key as NumPy takes it: each Tensor in it (a mask, a list of indices) as its array."""
    if isinstance(key, Tensor):
        return key.data
    if isinstance(key, tuple):
        return tuple(part.data if isinstance(part, Tensor) else part for part in key)
    return key


def _reduced_count(shape, dims):
    """How many values a reduction over ``dims`` (a tuple from ``_dims``, or None for all) puts into each result."""
    return math.prod(shape[d] for d in (range(len(shape)) if dims is None else dims))


def _float_only(op, tensor):
    if tensor.dtype.kind != "f":
        raise TypeError(f"{op}: needs a float tensor, got {tensor.dtype}; make it float first with .float()")
    return tensor


def _matmul_operand(other, like):
    if not isinstance(other, (Tensor, np.ndarray)):
        raise TypeError(f"matmul: multiplies two tensors, got {type(other).__name__}; for a number use *")
    return _operand(other, like, "matmul")


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


def _spread(dout, ctx):
    """The gradient of a reduction over ``ctx.dim`` laid back over the input's shape: each entry gets the gradient
    of the output it went into."""
    if ctx.dim is not None and not ctx.keepdim:
        dout = np.expand_dims(dout, ctx.dim)  # the reduced dimensions back, with size 1
    return np.broadcast_to(dout, ctx.shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, *, dim=None, keepdim=False):
        ctx.shape, ctx.dim, ctx.keepdim = a.shape, dim, keepdim
        out = a.sum(axis=dim, keepdims=keepdim)
        return np.asarray(out, dtype=a.dtype if a.dtype.kind == "f" else np.int64)  # a count of bools: int64

    @staticmethod
    def backward(ctx, dout):
        # out_j = sum of the a_i reduced into j  =>  da_i = dout_j
        return _spread(dout, ctx).copy()


class Mean(Function):
    @staticmethod
    def forward(ctx, a, *, dim=None, keepdim=False):
        ctx.shape, ctx.dim, ctx.keepdim = a.shape, dim, keepdim
        return np.asarray(a.mean(axis=dim, keepdims=keepdim), dtype=a.dtype)

    @staticmethod
    def backward(ctx, dout):
        # out_j = (sum of the n values a_i reduced into j) / n  =>  da_i = dout_j / n
        count = max(_reduced_count(ctx.shape, ctx.dim), 1)
        return (_spread(dout, ctx) / count).astype(dout.dtype)


class ValuesIndices(NamedTuple):
    """What ``max(dim)`` and ``min(dim)`` return, as PyTorch's ``torch.return_types.max``: ``values, indices = ...``."""

    values: Tensor
    indices: Tensor


class Extreme(Function):
    """The largest value of ``a`` (the smallest if not ``largest``); tied extremes share the gradient equally."""

    @staticmethod
    def forward(ctx, a, *, largest):
        value = a.max() if largest else a.min()
        ctx.save_for_backward(a == value)
        return np.asarray(value)

    @staticmethod
    def backward(ctx, dout):
        # out = a_k for the k at the extreme  =>  da_k = dout, shared among ties; 0 elsewhere
        (at_extreme,) = ctx.saved_tensors
        return at_extreme * (dout / int(at_extreme.sum()))


class TakeAlongDim(Function):
    """The entries of ``a`` at ``indices`` along ``dim`` (``np.take_along_axis``; ``indices`` has size 1 there):
    ``max(dim)`` and ``min(dim)`` with their argmax and argmin."""

    @staticmethod
    def forward(ctx, a, *, indices, dim, keepdim):
        ctx.shape, ctx.dim, ctx.keepdim = a.shape, dim, keepdim
        ctx.save_for_backward(indices)
        out = np.take_along_axis(a, indices, axis=dim)
        return out if keepdim else out.squeeze(dim)

    @staticmethod
    def backward(ctx, dout):
        # out = a[..., indices, ...]  =>  da = dout at those indices, 0 elsewhere
        (indices,) = ctx.saved_tensors
        da = np.zeros(ctx.shape, dtype=dout.dtype)
        np.put_along_axis(da, indices, dout if ctx.keepdim else np.expand_dims(dout, ctx.dim), axis=ctx.dim)
        return da


class Pow(Function):
    @staticmethod
    def forward(ctx, a, *, exponent):
        ctx.exponent = exponent
        ctx.save_for_backward(a)
        return a ** exponent

    @staticmethod
    def backward(ctx, dout):
        # out = a ** p  =>  da = dout * p * a ** (p - 1); 0 for p = 0, where a ** -1 would be inf at a = 0
        (a,) = ctx.saved_tensors
        p = ctx.exponent
        return np.zeros_like(dout) if p == 0 else dout * p * a ** (p - 1)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, dout):
        # out = |x|  =>  dx = dout * sign(x), and 0 at x = 0 (the subgradient PyTorch picks)
        (x,) = ctx.saved_tensors
        return dout * np.sign(x)


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, dout):
        # out = e ** a  =>  da = dout * out
        (out,) = ctx.saved_tensors
        return dout * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, dout):
        # out = ln a  =>  da = dout / a
        (a,) = ctx.saved_tensors
        return dout / a


class MatMul(Function):
    """The matrix product of two 2-D tensors."""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim != 2 or b.ndim != 2:
            raise ValueError(f"matmul: tinycnn multiplies 2-D tensors, got shapes {a.shape} and {b.shape}; reshape "
                             "them to (rows, columns) first (PyTorch's 1-D and batched forms are not here)")
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied ({a.shape[1]} columns "
                             f"against {b.shape[0]} rows)")
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, dout):
        # out = a @ b  =>  da = dout @ b.T, db = a.T @ dout
        a, b = ctx.saved_tensors
        da = dout @ b.T if ctx.needs_input_grad[0] else None
        db = a.T @ dout if ctx.needs_input_grad[1] else None
        return da, db


class Cast(Function):
    """The values in another float dtype; the gradient goes back in the input's."""

    @staticmethod
    def forward(ctx, a, *, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, dout):
        return dout.astype(ctx.dtype)


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, dout):
        return dout


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


class Permute(Function):
    @staticmethod
    def forward(ctx, a, *, dims):
        ctx.dims = dims
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, dout):
        # a view with the axes reordered: the gradient is dout with them put back
        return dout.transpose(np.argsort(ctx.dims))


class Index(Function):
    """``a[key]`` with NumPy's (and PyTorch's) indexing."""

    @staticmethod
    def forward(ctx, a, *, key):
        try:
            out = a[key]
        except IndexError as error:
            raise IndexError(f"index {key!r} into a tensor of shape {a.shape}: {error}") from None
        ctx.shape = a.shape
        ctx.save_for_backward(key)
        return np.asarray(out)

    @staticmethod
    def backward(ctx, dout):
        # out = the entries of a that key picks  =>  da = dout at those entries, 0 elsewhere
        (key,) = ctx.saved_tensors
        da = np.zeros(ctx.shape, dtype=dout.dtype)
        np.add.at(da, key, dout)  # add, not assign: an entry picked twice (t[[0, 0]]) gets both gradients
        return da


class Cat(Function):
    """The inputs joined along ``dim``; each gets back the slice of the gradient that its part received."""

    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim, ctx.ends = dim, tuple(np.cumsum([a.shape[dim] for a in arrays])[:-1].tolist())
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, dout):
        return tuple(np.split(dout, ctx.ends, axis=ctx.dim))


# ----- making tensors, as PyTorch's module-level functions ---------------------------------------


def tensor(data, dtype=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (a number, nested lists, an array, a Tensor), as ``torch.tensor``.

    Python floats become float32 and ints int64; arrays keep their dtype.
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        data = np.array(data)  # a copy; a list is copied by the conversion anyway
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array):
    """A tensor of ``array`` itself, not a copy (writing to one changes the other), keeping its dtype."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}; use tinycnn.tensor")
    return Tensor(array)


def _size(op, size):
    """``zeros(2, 3)`` and ``zeros((2, 3))`` alike: the shape as a tuple of ints."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in size):
        raise TypeError(f"{op}: the size must be non-negative ints, got {size!r}")
    return tuple(int(n) for n in size)


def zeros(*size, dtype=None, requires_grad=False):
    """A tensor of zeros, float32 unless ``dtype`` says otherwise: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return Tensor(np.zeros(_size("zeros", size), dtype=dtype or DEFAULT_DTYPE), requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    """A tensor of ones, float32 unless ``dtype`` says otherwise."""
    return Tensor(np.ones(_size("ones", size), dtype=dtype or DEFAULT_DTYPE), requires_grad=requires_grad)


def randn(*size, dtype=None, requires_grad=False, generator=None):
    """Standard normal values, float32 or float64, drawn from ``generator`` (a ``numpy.random.Generator``), by
    default tinycnn's seeded one (``tinycnn.manual_seed``), so that a seed repeats them."""
    dtype = np.dtype(dtype or DEFAULT_DTYPE)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"randn: draws float32 or float64 values, got dtype {dtype}")
    generator = default_generator() if generator is None else generator
    return Tensor(generator.standard_normal(_size("randn", size), dtype=dtype), requires_grad=requires_grad)


def cat(tensors, dim=0):
    """``tensors`` joined along ``dim``, an existing dimension, as ``torch.cat``; their other sizes must agree."""
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError(f"cat: needs a non-empty sequence of Tensors, got {[type(t).__name__ for t in tensors]}")
    if len({t.dtype for t in tensors}) > 1:
        raise TypeError(f"cat: mixed dtypes {[str(t.dtype) for t in tensors]}; convert them to one dtype first")
    dim = _dim("cat", dim, tensors[0].ndim)
    shapes = [t.shape for t in tensors]
    if any(len(s) != len(shapes[0]) or s[:dim] + s[dim + 1:] != shapes[0][:dim] + shapes[0][dim + 1:]
           for s in shapes):
        raise ValueError(f"cat: shapes {shapes} differ in a dimension other than dim {dim}; only that one may")
    return Cat.apply(*tensors, dim=dim)


def stack(tensors, dim=0):
    """``tensors``, all of one shape, joined along a new dimension ``dim``, as ``torch.stack``."""
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError(f"stack: needs a non-empty sequence of Tensors, got {[type(t).__name__ for t in tensors]}")
    if len({t.shape for t in tensors}) > 1:
        raise ValueError(f"stack: needs tensors of one shape, got {[t.shape for t in tensors]}")
    dim = _dim("stack", dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(dim) for t in tensors], dim)
