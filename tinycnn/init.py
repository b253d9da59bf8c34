"""Weight initialisation, as ``torch.nn.init``: ``nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5))``.

Each function fills a Parameter (or any float Tensor) in place, keeping its
array and dtype, and returns it; gradients are not recorded (PyTorch runs
these under no_grad too). The random ones draw from ``generator``, a
``numpy.random.Generator``, by default tinycnn's (``tinycnn.manual_seed``),
in float64 and then round to the tensor's dtype.

The scaled ones follow PyTorch's formulas. For a weight of shape
(out, in, k1, k2, ...), fan_in = in * k1 * k2 * ... and fan_out = out *
k1 * k2 * ... (a Linear's (out, in) has no k); then

    kaiming_uniform_:  uniform in +-bound, bound = gain * sqrt(3 / fan)
    kaiming_normal_:   normal, std = gain / sqrt(fan)
    xavier_uniform_:   uniform in +-bound, bound = gain * sqrt(6 / (fan_in + fan_out))
    xavier_normal_:    normal, std = gain * sqrt(2 / (fan_in + fan_out))

with ``fan`` fan_in or fan_out as ``mode`` says, and the kaiming gain
``calculate_gain(nonlinearity, a)``.
"""

import math
import warnings

from tinycnn.random import default_generator
from tinycnn.tensor import FLOAT_DTYPES, Tensor


def calculate_gain(nonlinearity, param=None):
    """The factor PyTorch scales an initialisation by for ``nonlinearity``, so that layers keep the variance.

    linear, conv*d, sigmoid: 1; tanh: 5/3; relu: sqrt(2); selu: 3/4;
    leaky_relu: sqrt(2 / (1 + slope**2)), slope ``param`` (default 0.01).
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: the leaky_relu slope must be a number, got {param!r}")
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; use linear, conv2d, sigmoid, tanh, "
                     f"relu, leaky_relu or selu")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight of shape (out, in, k1, ...): in and out times the product of the k's."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out cannot be computed for a tensor of shape {tensor.shape}: it needs at "
                         f"least 2 dimensions (out, in, ...); a bias takes uniform_, zeros_ or constant_")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _check(op, tensor):
    """``tensor`` is a float Tensor, which the initialisation can fill in place."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: fills a tinycnn Tensor (a Parameter) in place, got {type(tensor).__name__}")
    if tensor.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: fills a float32 or float64 tensor, got {tensor.dtype}")


def _fill(tensor, values):
    """Write ``values`` (an array of the tensor's shape, or a number) into ``tensor``'s array; return the tensor."""
    tensor.data[...] = values  # in place: whoever holds this array sees the new values, as with PyTorch's
    return tensor


def _no_values(op, tensor):
    """True, with PyTorch's warning, for a tensor with no values (a dimension of 0), whose fans may be 0."""
    if tensor.data.size:
        return False
    warnings.warn(f"{op}: initializing a zero-element tensor (shape {tensor.shape}) is a no-op", UserWarning,
                  stacklevel=3)
    return True


def _generator(generator):
    return default_generator() if generator is None else generator


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with values drawn uniformly from [a, b)."""
    _check("uniform_", tensor)
    return _fill(tensor, _generator(generator).uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with values drawn from the normal distribution N(mean, std**2)."""
    _check("normal_", tensor)
    return _fill(tensor, _generator(generator).normal(mean, std, size=tensor.shape))


def constant_(tensor, val):
    """Fill with ``val``."""
    _check("constant_", tensor)
    return _fill(tensor, val)


def ones_(tensor):
    """Fill with 1."""
    _check("ones_", tensor)
    return _fill(tensor, 1.0)


def zeros_(tensor):
    """Fill with 0."""
    _check("zeros_", tensor)
    return _fill(tensor, 0.0)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He initialisation, uniform: +-gain * sqrt(3 / fan). ``a`` is the slope of a leaky_relu after the layer.

    PyTorch's Conv2d and Linear start with ``kaiming_uniform_(w, a=math.sqrt(5))``, which is uniform in
    +-1 / sqrt(fan_in).
    """
    _check("kaiming_uniform_", tensor)
    if _no_values("kaiming_uniform_", tensor):
        return tensor
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He initialisation, normal: std = gain / sqrt(fan)."""
    _check("kaiming_normal_", tensor)
    if _no_values("kaiming_normal_", tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot initialisation, uniform: +-gain * sqrt(6 / (fan_in + fan_out))."""
    _check("xavier_uniform_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot initialisation, normal: std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check("xavier_normal_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)
