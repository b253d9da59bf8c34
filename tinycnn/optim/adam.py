"""Adam (Kingma and Ba, 2015), with weight decay in PyTorch's L2 form; and AdamW, with it decoupled."""

import math

import numpy as np

from tinycnn import backend
from tinycnn.kernels.adam import adam_update
from tinycnn.optim.optimizer import Optimizer


def _one_pass_fits(grad, exp_avg, exp_avg_sq):
    """The one-pass kernel takes float32 or float64 arrays of one dtype, C-contiguous (so reshape(-1) is a view)."""
    return (grad.dtype in (np.float32, np.float64) and exp_avg.dtype == grad.dtype == exp_avg_sq.dtype
            and grad.flags.c_contiguous and exp_avg.flags.c_contiguous and exp_avg_sq.flags.c_contiguous)


class Adam(Optimizer):
    """Adam with L2 weight decay, as ``torch.optim.Adam`` (not the decoupled AdamW).

    For each parameter p with gradient g, at step t = 1, 2, ...::

        g = g + weight_decay * p                     # L2 penalty: added to the gradient, so it
                                                     # is rescaled by the moments like any gradient
        m = beta1 * m + (1 - beta1) * g              # first moment: running mean of gradients
        v = beta2 * v + (1 - beta2) * g * g          # second moment: running mean of squares
        m_hat = m / (1 - beta1**t)                   # bias correction: m and v start at 0
        v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    With ``amsgrad`` (Reddi et al., 2018), the denominator uses the largest
    v seen so far, ``v_max = max(v_max, v)``, in place of v, so the step
    size never grows back; with ``maximize`` the gradient is negated first.
    Arithmetic follows PyTorch's order (eps is added after dividing sqrt(v)
    by sqrt(1 - beta2**t)), so results agree with it to rounding.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _check(self, settings, where=""):
        super()._check(settings, where)
        betas = settings["betas"]
        if len(betas) != 2 or not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"{type(self).__name__}: betas must be two numbers in [0, 1), got {betas}{where}")

    def update(self, grad, state, group):
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(grad)
            state["exp_avg_sq"] = np.zeros_like(grad)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if not group["amsgrad"] and backend.mode() == "fast" and _one_pass_fits(grad, m, v):
            # the lines below, in one pass (kernels/adam.py); the reference kernels run the lines themselves
            dtype = grad.dtype.type
            return adam_update(
                grad.reshape(-1), m.reshape(-1), v.reshape(-1), dtype(beta1), dtype(1 - beta1), dtype(beta2),
                dtype(1 - beta2), dtype(group["lr"] / (1 - beta1**t)), dtype(math.sqrt(1 - beta2**t)),
                dtype(group["eps"])).reshape(grad.shape)
        m *= beta1  # first moment
        m += (1 - beta1) * grad
        v *= beta2  # second moment
        v += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            v = state.setdefault("max_exp_avg_sq", np.zeros_like(grad))  # the largest second moment so far
            np.maximum(v, state["exp_avg_sq"], out=v)
        step_size = group["lr"] / (1 - beta1**t)  # bias correction of m folded into the step
        denom = np.sqrt(v) / math.sqrt(1 - beta2**t) + group["eps"]  # bias correction of v
        return step_size * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019), as ``torch.optim.AdamW``.

    For each parameter p with gradient g, at step t::

        p = p * (1 - lr * weight_decay)              # decay the weight itself, not through the gradient
        m, v, m_hat, v_hat as in Adam, from g alone
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    With L2 decay (``Adam``), the penalty ``weight_decay * p`` is divided by
    sqrt(v_hat) like the rest of the gradient, so a weight whose gradients
    are small is decayed far harder than one whose gradients are large; here
    every weight shrinks by the same factor each step. PyTorch's default
    weight_decay for AdamW is 0.01.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)
