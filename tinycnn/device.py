"""Devices, as far as a CPU-only engine has them: ``tinycnn.device("cpu")``, ``tinycnn.cuda.is_available()``,
and the arguments of ``Tensor.to`` / ``Module.to``.

PyTorch scripts name their device once and move everything to it:

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device); images = images.to(device)

tinycnn runs on the CPU only, so these lines run as written: ``cuda.is_available()`` is False, a CPU device
is accepted and moves nothing, and asking for any other device says so instead of failing somewhere later.
"""

import types

import numpy as np


class device:
    """The CPU, the one device tinycnn runs on: ``device("cpu")``, ``device("cpu:0")``, ``device("cpu", 0)``."""

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        name, _, number = str(type).partition(":")
        if name != "cpu":
            raise RuntimeError(f"device {type!r}: tinycnn runs on the CPU only; use 'cpu' "
                               "(tinycnn.cuda.is_available() is False)")
        self.type, self.index = "cpu", int(number) if number else index

    def __eq__(self, other):
        return isinstance(other, (device, str)) and str(device(other)) == str(self)

    def __hash__(self):
        return hash(str(self))

    def __str__(self):
        return "cpu" if self.index is None else f"cpu:{self.index}"

    def __repr__(self):
        return f"device(type='cpu')" if self.index is None else f"device(type='cpu', index={self.index})"


cuda = types.SimpleNamespace(is_available=lambda: False, device_count=lambda: 0)
cuda.__doc__ = "``tinycnn.cuda.is_available()`` is False and ``device_count()`` 0: tinycnn runs on the CPU only."


def dtype_of_to_arguments(owner, args, kwargs):
    """The dtype that ``owner.to(*args, **kwargs)`` asks for, or None for none: PyTorch's forms ``to(dtype)``,
    ``to(device)``, ``to(device, dtype)``, ``to(tensor)`` (its dtype), ``to(device=..., dtype=...)``; a CPU
    device is accepted and changes nothing, any other is refused (``device``). ``non_blocking`` and ``copy`` are
    accepted and change nothing: there is no other memory to copy to."""
    from tinycnn.tensor import Tensor

    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"{owner}.to: unexpected keyword argument {sorted(unknown)[0]!r}")
    dtype = kwargs.get("dtype")
    if kwargs.get("device") is not None:
        device(kwargs["device"])
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif isinstance(arg, device) or (isinstance(arg, str) and not _names_a_dtype(arg)):
            device(arg)
        elif isinstance(arg, bool):  # to(device, dtype, non_blocking) passes one positionally
            continue
        else:
            dtype = arg
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{owner}.to: expected a dtype (tinycnn.float32, tinycnn.float64, ...) or a device ('cpu'), "
                        f"got {dtype!r}") from None


def _names_a_dtype(text):
    try:
        np.dtype(text)
        return True
    except TypeError:
        return False
