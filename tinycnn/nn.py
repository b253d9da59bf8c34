"""Modules: layers that own their parameters, with PyTorch's names and semantics.

A Module finds its parameters and sub-modules by looking at its attributes,
so ``self.conv1 = Conv2d(...)`` in ``__init__`` is all it takes; names such as
``conv1.weight`` come from the attribute path. Per-call state never lives on a
module (it lives on the autograd ctx), so a module can be called twice in one
graph. *Buffers* are arrays a module keeps that are not learned (BatchNorm's
running statistics): ``register_buffer`` names them, and ``state_dict``,
``load_state_dict`` and ``to`` carry them, as in PyTorch.
"""

import math
import sys
import warnings
from typing import NamedTuple

import numpy as np

import tinycnn.functional as F
from tinycnn import init, nn_utils as utils
from tinycnn.random import default_generator
from tinycnn.tensor import DEFAULT_DTYPE, Tensor

# ``nn.init`` and ``nn.utils`` are attributes of this module; naming them in sys.modules as well lets PyTorch's import
# lines work with only the package's name changed: ``import tinycnn.nn.init as init``,
# ``from tinycnn.nn.utils import clip_grad_norm_`` (nn is a file, not a package, so Python would not look further).
sys.modules[f"{__name__}.init"] = init
sys.modules[f"{__name__}.utils"] = utils


class Parameter(Tensor):
    """A Tensor that is a learnable parameter of a Module (requires_grad by default)."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class of layers and models. Subclasses set attributes and define ``forward``."""

    def __init__(self):
        self.training = True
        self._forward_hooks = []
        self._buffer_names = []

    def register_buffer(self, name, array, persistent=True):
        """Keep ``array`` as attribute ``name``, saved and loaded with the parameters but not learned.

        As in PyTorch, ``persistent=False`` keeps it out of ``state_dict`` (a
        value the model can recompute), and a buffer of None is an attribute
        only, until an array is registered under its name. A buffer is a
        NumPy array (``np.array(buffer)`` copies one; PyTorch's is a Tensor).
        """
        setattr(self, name, None if array is None else np.asarray(array))
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        non_persistent = vars(self).setdefault("_non_persistent", set())
        (non_persistent.discard if persistent else non_persistent.add)(name)

    def forward(self, *args):
        """What the module computes; every module defines it, and ``module(x)`` calls it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args):
        out = self.forward(*args)
        for hook in getattr(self, "_forward_hooks", ()):
            hook(self, args, out)
        return out

    # ----- structure -------------------------------------------------------------------
    # As in PyTorch: the walks below give each module (and parameter) once, however many names it has, pre-order,
    # children in the order they were set; state_dict instead keeps every name (``_state_entries``).

    def add_module(self, name, module):
        """Set ``module`` as the child ``name``, as ``self.name = module`` does (for names made at run time)."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"add_module: {name!r} must be a Module or None, got {type(module).__name__}")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"add_module: the name must be a non-empty string without '.', got {name!r}")
        setattr(self, name, module)

    def named_children(self):
        """(name, module) of each direct sub-module, in the order they were set."""
        seen = set()
        for name, value in vars(self).items():
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def children(self):
        """Each direct sub-module once, in the order they were set."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """This module and every module below it, pre-order (a module, then each child's whole subtree), with
        dotted names; "" is this module. A module reachable twice comes once, unless ``remove_duplicate=False``."""
        seen = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield name, module
            every_child = [(child, m) for child, m in vars(module).items() if isinstance(m, Module)]
            stack.extend(reversed([(f"{name}.{child}" if name else child, m) for child, m in every_child]))

    def modules(self):
        """This module and every module below it, each once, pre-order (see ``named_modules``)."""
        for _, module in self.named_modules():
            yield module

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module, then on this one (children before parents), and return self:
        ``model.apply(init_weights)``, as in PyTorch."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs, e.g. ("conv1.weight", ...), in definition order; a parameter shared by
        two modules comes once (under its first name), unless ``remove_duplicate=False``."""
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        seen = set()
        for module_name, module in modules:
            for name, value in vars(module).items():
                if not isinstance(value, Parameter) or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def parameters(self, recurse=True):
        """An iterator over the parameters, as PyTorch's (``list(model.parameters())`` for a list)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self):
        """(dotted name, array) pairs of every buffer, e.g. ("bn1.running_mean", ...)."""
        for module_name, module in self.named_modules():
            for name in getattr(module, "_buffer_names", ()):
                yield (f"{module_name}.{name}" if module_name else name), getattr(module, name)

    def _state_entries(self):
        """(dotted name, module, attribute) of every parameter and buffer, in PyTorch's state_dict order:
        each module's own parameters, then its own buffers, then its children's, depth first; a module reachable
        by two names is under both, as in PyTorch."""
        for module_name, module in self.named_modules(remove_duplicate=False):
            own = [name for name, value in vars(module).items() if isinstance(value, Parameter)]
            buffers = [name for name in getattr(module, "_buffer_names", ())
                       if getattr(module, name) is not None and name not in getattr(module, "_non_persistent", ())]
            for name in own + buffers:
                yield (f"{module_name}.{name}" if module_name else name), module, name

    def num_parameters(self):
        """How many values the parameters hold: ``sum(p.numel() for p in model.parameters())``."""
        return sum(p.data.size for p in self.parameters())

    # ----- modes and gradients --------------------------------------------------------------

    def train(self, mode=True):
        """Training mode for this module and every one below it (``mode=False``: evaluation); returns self."""
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self):
        """``train(False)``: BatchNorm uses its running statistics and dropout does nothing; returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Make every parameter require gradients, or not (to freeze a part of a model); returns self."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: None (PyTorch 2's default), or arrays of zeros with ``set_to_none=False``.

        The zeros are new arrays, not the old ones zeroed: a gradient array
        may be shared by two parameters (backward hands the same one on).
        """
        for p in self.parameters():
            p.grad = None if set_to_none or p.grad is None else np.zeros_like(p.grad)

    def to(self, *args, **kwargs):
        """Convert every parameter and floating-point buffer to ``dtype`` in place (e.g. float64 for gradient checks).

        Takes ``Tensor.to``'s forms: ``model.to(device)`` with a CPU device is the model as it is.
        """
        from tinycnn.device import dtype_of_to_arguments

        dtype = dtype_of_to_arguments(type(self).__name__, args, kwargs)
        if dtype is None:
            return self
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        for _, module, name in self._state_entries():
            value = getattr(module, name)
            if not isinstance(value, Parameter) and value.dtype.kind == "f":
                setattr(module, name, value.astype(dtype))
        return self

    def double(self):
        """``to(tinycnn.float64)``: every parameter and float buffer as float64, in place; returns self."""
        return self.to(np.float64)

    def float(self):
        """``to(tinycnn.float32)``."""
        return self.to(np.float32)

    # ----- saving and loading ------------------------------------------------------------

    def state_dict(self):
        """{dotted name: copy of the array} for every parameter and buffer, in PyTorch's order."""
        state = {}
        for key, module, name in self._state_entries():
            value = getattr(module, name)
            state[key] = (value.data if isinstance(value, Parameter) else value).copy()
        return state

    def load_state_dict(self, state, strict=True):
        """Copy arrays into the existing parameters and buffers (keeping their dtype).

        As in PyTorch: with ``strict`` (the default) every parameter and
        buffer must be given and nothing else; with ``strict=False`` missing
        and unexpected keys are skipped, and returned as (missing, unexpected).
        A wrongly shaped array is an error either way. Returns PyTorch's
        named pair: ``result.missing_keys``, ``result.unexpected_keys`` (or
        ``missing, unexpected = ...``). Errors list every key
        at fault (and the file the state came from, when ``state`` was loaded
        by ``tinycnn.load``), and nothing is copied unless all is well.
        """
        entries = {key: (module, name) for key, module, name in self._state_entries()}
        source = f" (from {state.source})" if getattr(state, "source", None) else ""
        missing = [key for key in entries if key not in state]  # in the model's order, as PyTorch lists them
        unexpected = [key for key in state if key not in entries]
        if strict and (missing or unexpected):
            problems = [f"{label} {', '.join(keys)}" for label, keys in (("missing keys:", missing),
                                                                         ("unexpected keys:", unexpected)) if keys]
            raise StateDictKeyError(f"load_state_dict{source}: {'; '.join(problems)} (strict=False loads the keys "
                                    f"that match)")
        present = {key: entry for key, entry in entries.items() if key in state}
        misshapen = [f"{key} has shape {np.shape(state[key])}, the model expects {getattr(module, name).shape}"
                     for key, (module, name) in present.items() if np.shape(state[key]) != getattr(module, name).shape]
        if misshapen:
            raise ValueError(f"load_state_dict{source}: {'; '.join(misshapen)}")
        for key, (module, name) in present.items():
            current = getattr(module, name)
            if isinstance(current, Parameter):
                current.data = np.array(state[key], dtype=current.dtype)
            else:
                setattr(module, name, np.array(state[key], dtype=current.dtype))
        return IncompatibleKeys(missing, unexpected)

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for name, child in self.named_children():
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        lines.append(")")
        return "\n".join(lines) if len(lines) > 2 else f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self):
        """The settings ``repr`` shows between the parentheses; a layer overrides it."""
        return ""


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns, as PyTorch's: the keys it did not find in the state, and those it did not
    expect, each in order."""

    missing_keys: list
    unexpected_keys: list


class StateDictKeyError(KeyError):
    """A state dict's keys do not match the model's. A KeyError whose message prints as written."""

    def __str__(self):
        return str(self.args[0])


def _kernel_size(op, value):
    """``value`` (an int or a pair) as the pair (KH, KW) of ints >= 1, as PyTorch keeps a conv's kernel_size."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1 for k in pair):
        raise ValueError(f"{op}: kernel_size must be an int >= 1 or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _refuse_unsupported(op, **arguments):
    """Refuse, naming it, any of PyTorch's arguments given a value tinycnn's kernels cannot honour.

    arguments: name=(value, the value tinycnn supports, what tinycnn lacks). PyTorch's signatures are kept, so
    that a positional call means the same in both engines (``Conv2d(1, 8, 3, 1, 1, 2)``'s 2 is a dilation, not
    a bias), and a value other than the supported one fails here rather than being ignored.
    """
    for name, (value, supported, lacking) in arguments.items():
        if value != supported:
            raise ValueError(f"{op}: {name}={value!r} is not supported ({lacking}); leave it at {supported!r}")


def _check_device(device):
    if device is not None:
        from tinycnn.device import device as cpu_only

        cpu_only(device)  # refuses any device but the CPU, saying why


def _uniform(shape, bound, generator, dtype):
    generator = default_generator() if generator is None else generator
    return generator.uniform(-bound, bound, size=shape).astype(dtype)


class Conv2d(Module):
    """2-D convolution layer, as ``torch.nn.Conv2d`` (no dilation or groups).

    As in PyTorch, ``kernel_size`` is an int or a pair (KH, KW), ``stride``
    and ``padding`` an int or a pair, and ``padding`` may also be 'valid'
    (none) or 'same' (the output keeps the input's size; stride 1 only, as in
    PyTorch); they are kept as PyTorch keeps them: ``kernel_size == (3, 3)``.
    The kernels take one stride and one padding for both axes, so a pair
    must be equal, and 'same' needs an odd square kernel (see
    ``F.conv2d``); anything else is refused here, when the layer is made.

    Initialisation as PyTorch's default: weight and bias uniform in
    +-1/sqrt(fan_in), fan_in = in_channels * KH * KW (this is what
    kaiming_uniform_ with a=sqrt(5) works out to).

    Shape: input (N, in_channels, H, W) -> output (N, out_channels, OH, OW).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=DEFAULT_DTYPE, *, generator=None):
        super().__init__()
        _refuse_unsupported("Conv2d", dilation=(F._pair("Conv2d", "dilation", dilation), 1, "no dilated kernels"),
                            groups=(groups, 1, "no grouped or depthwise convolutions"),
                            padding_mode=(padding_mode, "zeros", "zero padding only"))
        _check_device(device)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _kernel_size("Conv2d", kernel_size)
        one_stride = F._pair("Conv2d", "stride", stride)
        one_padding = F._conv_padding("Conv2d", padding, one_stride, self.kernel_size)
        if one_stride < 1 or one_padding < 0:
            raise ValueError(f"Conv2d: stride must be >= 1 and padding >= 0, got stride={stride}, padding={padding}")
        self.stride = (one_stride, one_stride)
        self.padding = padding if isinstance(padding, str) else (one_padding, one_padding)
        KH, KW = self.kernel_size
        bound = 1.0 / math.sqrt(in_channels * KH * KW)
        self.weight = Parameter(_uniform((out_channels, in_channels, KH, KW), bound, generator, dtype))
        self.bias = Parameter(_uniform((out_channels,), bound, generator, dtype)) if bias else None

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class Linear(Module):
    """Fully connected layer, as ``torch.nn.Linear``: weight (out, in), bias (out,).

    Initialisation as PyTorch's default: uniform in +-1/sqrt(in_features).

    Shape: input (N, in_features) -> output (N, out_features).
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=DEFAULT_DTYPE, *, generator=None):
        super().__init__()
        _check_device(device)
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(_uniform((out_features, in_features), bound, generator, dtype))
        self.bias = Parameter(_uniform((out_features,), bound, generator, dtype)) if bias else None

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class BatchNorm2d(Module):
    """Batch normalisation over the channels, as ``torch.nn.BatchNorm2d``.

    weight (C,) starts at 1 and bias (C,) at 0 (learned, if ``affine``).
    Buffers: running_mean (C,) from 0, running_var (C,) from 1, and
    num_batches_tracked, the count of training batches seen. In training
    mode (``model.train()``, the default) each batch is normalised with its
    own statistics and the running ones move towards them by ``momentum``
    (with ``momentum=None``, they are the plain average of all batches so
    far); in evaluation mode (``model.eval()``) the running ones are used.

    Shape: input (N, num_features, H, W) -> output the same.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        _check_device(device)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def forward(self, input):
        use_batch_statistics = self.training or not self.track_running_stats
        factor = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked = self.num_batches_tracked + 1
            if self.momentum is None:  # a cumulative average over the batches seen
                factor = 1.0 / float(self.num_batches_tracked)
        running = (self.running_mean, self.running_var) if self.track_running_stats else (None, None)
        return F.batch_norm(input, *running, self.weight, self.bias, training=use_batch_statistics,
                            momentum=factor, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class MaxPool2d(Module):
    """Max pooling, as ``torch.nn.MaxPool2d`` (no padding, floor sizes; stride defaults to the kernel)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        _refuse_unsupported("MaxPool2d", padding=(padding, 0, "no padded pools"), dilation=(dilation, 1, "no dilation"),
                            return_indices=(return_indices, False, "the winners stay inside the kernels"),
                            ceil_mode=(ceil_mode, False, "floor sizes only"))
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


class AvgPool2d(Module):
    """Average pooling, as ``torch.nn.AvgPool2d`` (no padding, floor sizes; stride defaults to the kernel)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        _refuse_unsupported("AvgPool2d", padding=(padding, 0, "no padded pools"),
                            ceil_mode=(ceil_mode, False, "floor sizes only"),
                            divisor_override=(divisor_override, None, "the divisor is the window's size"))
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, as ``torch.nn.AdaptiveAvgPool2d``; 1 is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class Dropout(Module):
    """Zero each value with probability p in training (scaling the rest by 1/(1-p)); the identity in eval."""

    def __init__(self, p=0.5, inplace=False, *, generator=None):
        super().__init__()  # inplace: accepted; the output is a new array either way, with the same values
        self.p, self.inplace, self.generator = p, inplace, generator

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.generator)

    def extra_repr(self):
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Zero whole channels with probability p in training (scaling the rest by 1/(1-p)); the identity in eval."""

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.generator)


class ReLU(Module):
    """max(x, 0). ``inplace=True`` is accepted: the output is a new array either way, with the same values."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input)


class Flatten(Module):
    """Merge dimensions ``start_dim`` to ``end_dim`` into one, as ``torch.nn.Flatten``: (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        if self.end_dim == -1:
            return F.flatten(input, self.start_dim)
        return input.flatten(self.start_dim, self.end_dim)


class Identity(Module):
    """Returns its input; it takes and ignores any arguments, as ``torch.nn.Identity`` (a placeholder layer)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


def _softmax_dim(module, dim, ndim):
    """``dim``, or for dim=None PyTorch's old implicit choice (0 for 0-, 1- and 3-D inputs, else 1), with its
    warning."""
    if dim is not None:
        return dim
    warnings.warn(f"{module}: an implicit dim is deprecated in PyTorch; pass dim (it chose "
                  f"{0 if ndim in (0, 1, 3) else 1} for this {ndim}-D input)", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class _SoftmaxAlongDim(Module):
    """What Softmax and LogSoftmax share: ``function`` applied along ``dim``."""

    function = None  # F.softmax or F.log_softmax

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return type(self).function(input, _softmax_dim(type(self).__name__, self.dim, input.ndim))

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_SoftmaxAlongDim):
    """``F.softmax`` along ``dim``, as ``torch.nn.Softmax``. Shape: any; output the same."""

    function = staticmethod(F.softmax)


class LogSoftmax(_SoftmaxAlongDim):
    """``F.log_softmax`` along ``dim``, as ``torch.nn.LogSoftmax``. Shape: any; output the same."""

    function = staticmethod(F.log_softmax)


class _Loss(Module):
    """The arguments PyTorch's losses share. ``size_average`` and ``reduce``, deprecated in PyTorch, keep their
    places so that positional arguments line up, but only None is accepted: use ``reduction``."""

    def __init__(self, weight, size_average, reduce, reduction):
        super().__init__()
        name = type(self).__name__
        for argument, value in (("size_average", size_average), ("reduce", reduce)):
            if value is not None:
                raise ValueError(f"{name}: {argument} is deprecated in PyTorch and not in tinycnn; pass "
                                 f"reduction='none', 'mean' or 'sum'")
        if reduction not in F._REDUCTIONS:
            raise ValueError(f"{name}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.weight = None
        if weight is not None:  # a buffer, so that state_dict carries it, as PyTorch's
            self.register_buffer("weight", weight.data if isinstance(weight, Tensor) else weight)

    def extra_repr(self):
        return f"reduction={self.reduction!r}" + ("" if self.weight is None else f", weight={self.weight.tolist()}")


class NLLLoss(_Loss):
    """``F.nll_loss`` with fixed options, as ``torch.nn.NLLLoss``: ``criterion(log_probabilities, target)``."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class CrossEntropyLoss(_Loss):
    """``F.cross_entropy`` with fixed options, as ``torch.nn.CrossEntropyLoss``: ``criterion(scores, target)``."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must lie in [0, 1], got {label_smoothing}")
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)


class _Indexed(Module):
    """Modules held under the names "0", "1", ...: what Sequential and ModuleList share.

    The names are attributes, as every child's is, so parameters and
    state_dict keys ("0.weight") come the usual way; any change of the list
    renumbers them, as in PyTorch.
    """

    def __init__(self, modules):
        super().__init__()
        self._set_all(modules)

    def _list(self):
        return [value for value in vars(self).values() if isinstance(value, Module)]

    def _set_all(self, modules):
        """Hold ``modules`` in order: under the names they had if there are as many (an assignment at an index),
        else renumbered "0", "1", ... (PyTorch renumbers after a deletion too)."""
        names = [name for name, value in vars(self).items() if isinstance(value, Module)]
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"{type(self).__name__}: item {index} is a {type(module).__name__}, not a Module "
                                f"(nn.Sequential takes modules, or one OrderedDict of names and modules)")
        for name in names:
            delattr(self, name)
        keep_names = len(names) == len(modules)
        for index, module in enumerate(modules):
            setattr(self, names[index] if keep_names else str(index), module)

    def __iter__(self):
        return iter(self._list())

    def __len__(self):
        return len(self._list())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._of(self._list()[index])
        return self._list()[self._position(index)]

    def __setitem__(self, index, module):
        modules = self._list()
        modules[self._position(index)] = module
        self._set_all(modules)

    def __delitem__(self, index):
        modules = self._list()
        del modules[index if isinstance(index, slice) else self._position(index)]
        self._set_all(modules)

    def _position(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"{type(self).__name__} indices must be ints or slices, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__}: index {index} is out of range for {len(self)} modules")
        return int(index) % len(self)

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self._set_all(self._list() + [module])
        return self

    def extend(self, modules):
        """Add each of ``modules`` at the end, in order; returns self."""
        self._set_all(self._list() + list(modules))
        return self

    def insert(self, index, module):
        """Put ``module`` before position ``index``, as ``list.insert``."""
        modules = self._list()
        modules.insert(index, module)
        self._set_all(modules)


class Sequential(_Indexed):
    """Modules applied in order; their names are "0", "1", ..., or those of an OrderedDict, as in PyTorch:
    ``nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 8, 3)), ("relu", nn.ReLU())]))`` has the keys
    "conv.weight", "conv.bias". A module added later with ``add_module`` runs after the others."""

    def __init__(self, *modules):
        if len(modules) == 1 and isinstance(modules[0], dict):
            Module.__init__(self)
            for name, module in modules[0].items():
                if not isinstance(module, Module):
                    raise TypeError(f"Sequential: {name!r} is a {type(module).__name__}, not a Module")
                self.add_module(name, module)
            return
        super().__init__(modules)

    @classmethod
    def _of(cls, modules):
        return cls(*modules)

    def forward(self, input):
        for module in self:
            input = module(input)
        return input


class ModuleList(_Indexed):
    """A list of modules whose parameters belong to the module that holds it, as ``torch.nn.ModuleList``.

    ``self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])``
    gives the state_dict keys "layers.0.weight", ...; it has no forward:
    the holder's forward calls the modules (``for layer in self.layers``).
    It takes ``append``, ``extend``, ``insert``, ``+=``, indexing (a slice
    is a ModuleList), assignment and ``del`` by index, ``len`` and iteration.
    """

    def __init__(self, modules=None):
        super().__init__(() if modules is None else list(modules))

    @classmethod
    def _of(cls, modules):
        return cls(modules)

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(self._list() + list(other))
