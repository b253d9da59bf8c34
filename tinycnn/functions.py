"""``torch.flatten``, ``torch.argmax``, ``torch.max``, ``torch.min``: Tensor methods called as functions of the
package, as PyTorch scripts call them (``torch.flatten(x, 1)`` in a forward, ``torch.max(outputs, 1)`` in an
evaluation loop). Their own file, because ``max`` and ``min`` would hide Python's builtins in tensor.py.
"""

from tinycnn.tensor import Tensor


def _as_tensor(op, value):
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: expected a tinycnn.Tensor, got {type(value).__name__} (a NumPy array? wrap it: "
                        "tinycnn.from_numpy(array); note that Tensor.data is the array, not a Tensor as in PyTorch)")
    return value


def flatten(input, start_dim=0, end_dim=-1):
    """``input.flatten(start_dim, end_dim)``, as ``torch.flatten``: from dimension 0 by default (F.flatten and
    nn.Flatten start at 1)."""
    return _as_tensor("flatten", input).flatten(start_dim, end_dim)


def argmax(input, dim=None, keepdim=False):
    """``input.argmax(dim, keepdim)``, as ``torch.argmax``."""
    return _as_tensor("argmax", input).argmax(dim, keepdim)


def max(input, dim=None, keepdim=False):
    """``input.max(dim, keepdim)``, as ``torch.max``: the largest value, or with ``dim`` the pair (values, indices)."""
    return _as_tensor("max", input).max(dim, keepdim)


def min(input, dim=None, keepdim=False):
    """``input.min(dim, keepdim)``, as ``torch.min``."""
    return _as_tensor("min", input).min(dim, keepdim)
