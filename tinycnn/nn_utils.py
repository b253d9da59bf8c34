"""Gradient clipping, as ``torch.nn.utils``: ``nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)``.

Both act on the ``.grad`` arrays that ``backward`` left, between
``loss.backward()`` and ``optimizer.step()``. Each clipped gradient is a
new array, not the old one changed in place: backward may hand one array
to two parameters (the two inputs of an addition get the same gradient),
and scaling it in place would scale it twice.
"""

import math

import numpy as np

from tinycnn.tensor import Tensor


def _gradients(op, parameters):
    """The parameters (one Tensor, or an iterable of them) that have a gradient."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for index, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: parameter {index} is a {type(p).__name__}, not a Tensor; pass "
                            f"model.parameters()")
    return [p for p in parameters if p.grad is not None]


def _norm(array, norm_type):
    """The p-norm of all of ``array``'s values (the largest magnitude for p = inf), in float64."""
    magnitudes = np.abs(array.astype(np.float64, copy=False)).reshape(-1)
    if norm_type == math.inf:
        return float(magnitudes.max(initial=0.0))
    if norm_type == 0:  # the count of non-zero values, as torch.linalg.vector_norm's 0-"norm"
        return float(np.count_nonzero(magnitudes))
    return float(np.sum(magnitudes**norm_type) ** (1.0 / norm_type))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients together so that their total norm is at most ``max_norm``; return the total norm
    from before the clipping, as a 0-d Tensor (of the gradients' dtype), as ``torch.nn.utils.clip_grad_norm_``.

    The total norm is the ``norm_type``-norm of the gradients' norms (the
    norm of all their values as one vector; ``float('inf')`` for the largest
    magnitude). Each gradient is multiplied by min(1, max_norm / (total +
    1e-6)), PyTorch's formula: gradients within the limit keep their values.
    With ``error_if_nonfinite``, a NaN or infinite total norm is an error
    rather than NaN gradients.
    """
    op = "clip_grad_norm_"
    with_grad = _gradients(op, parameters)
    norm_type = float(norm_type)
    if norm_type < 0 or math.isnan(norm_type):
        raise ValueError(f"{op}: norm_type must be a number >= 0 or inf, got {norm_type}")
    if not with_grad:
        return Tensor(np.array(0.0, dtype=np.float32))
    total = _norm(np.array([_norm(p.grad, norm_type) for p in with_grad]), norm_type)
    dtype = with_grad[0].grad.dtype
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"{op}: the total norm of order {norm_type} of the gradients is {total}, so they cannot "
                           f"be clipped; set error_if_nonfinite=False to carry on (the gradients become NaN)")
    scale = min(float(max_norm) / (total + 1e-6), 1.0)
    for p in with_grad:
        p.grad = (p.grad * scale).astype(p.grad.dtype, copy=False)
    return Tensor(np.array(total, dtype=dtype))


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient value into [-clip_value, clip_value], as ``torch.nn.utils.clip_grad_value_``."""
    clip_value = float(clip_value)
    for p in _gradients("clip_grad_value_", parameters):
        p.grad = np.clip(p.grad, -clip_value, clip_value)
