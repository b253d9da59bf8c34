"""Stochastic gradient descent with momentum, in PyTorch's formulation."""

from tinycnn.optim.optimizer import Optimizer


class SGD(Optimizer):
    """SGD with optional momentum, Nesterov momentum and L2 weight decay.

    For each parameter p with gradient g, as ``torch.optim.SGD`` does::

        g = g + weight_decay * p                  # L2 penalty folded into the gradient
        buf = g                 on the first step # momentum buffer
        buf = momentum * buf + g  afterwards      # (PyTorch's form: no (1 - dampening) factor)
        g = g + momentum * buf  if nesterov, else  g = buf
        p = p - lr * g

    This is Sutskever et al. (2013)'s momentum written with the learning rate
    outside the buffer, which is what PyTorch implements. ``lr`` defaults to
    1e-3, as in PyTorch 2; each parameter group may set its own.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov))

    def _check(self, settings, where=""):
        super()._check(settings, where)
        if settings["nesterov"] and settings["momentum"] <= 0:
            raise ValueError(f"SGD: nesterov momentum requires momentum > 0{where}")

    def update(self, grad, state, group):
        momentum = group["momentum"]
        if momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.copy()
            else:
                state["momentum_buffer"] = momentum * state["momentum_buffer"] + grad
            buf = state["momentum_buffer"]
            grad = grad + momentum * buf if group["nesterov"] else buf
        return group["lr"] * grad
