"""RMSprop (Hinton's lecture 6e, 2012), in PyTorch's formulation: each step divided by a running RMS of gradients."""

import numpy as np

from tinycnn.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop with optional momentum, centring and L2 weight decay, as ``torch.optim.RMSprop``.

    For each parameter p with gradient g (every array p's shape)::

        g = -g                   if maximize
        g = g + weight_decay * p                       # L2 penalty folded into the gradient
        v = alpha * v + (1 - alpha) * g * g            # running mean of squared gradients, from 0
        avg = sqrt(v) + eps
        if centered:                                   # divide by a running standard deviation instead
            m = m + (1 - alpha) * (g - m)              # running mean of gradients, from 0
            avg = sqrt(v - m * m) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg             # from 0, unlike SGD's buffer
            p = p - lr * buf
        else:
            p = p - lr * g / avg

    There is no bias correction: v starts at 0, so the first steps are large
    (about lr / sqrt(1 - alpha) = 10 lr with the default alpha). The state of
    a parameter is PyTorch's: ``step``, ``square_avg`` (v), ``grad_avg`` (m,
    when centered) and ``momentum_buffer`` (when momentum > 0).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, maximize=maximize))

    def update(self, grad, state, group):
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(grad)
        state["step"] += 1
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state.setdefault("grad_avg", np.zeros_like(grad))
            _lerp(grad_avg, grad, 1 - alpha)
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            avg = np.sqrt(square_avg) + group["eps"]
        if momentum > 0:
            buf = state.setdefault("momentum_buffer", np.zeros_like(grad))
            buf *= momentum
            buf += grad / avg
            return group["lr"] * buf
        return group["lr"] * grad / avg


def _lerp(start, end, weight):
    """``start += weight * (end - start)`` in place, rounded as PyTorch's ``lerp_`` rounds (it has two forms)."""
    if weight < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)
