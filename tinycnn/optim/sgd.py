"""Stochastic gradient descent with momentum, in PyTorch's formulation."""

from tinycnn.optim.optimizer import Optimizer


class SGD(Optimizer):
    """SGD with optional momentum (with dampening), Nesterov momentum and L2 weight decay.

    For each parameter p with gradient g, as ``torch.optim.SGD`` does::

        g = -g                  if maximize       # gradient ascent
        g = g + weight_decay * p                  # L2 penalty folded into the gradient
        buf = g                 on the first step # momentum buffer (undamped, whatever dampening is)
        buf = momentum * buf + (1 - dampening) * g  afterwards
        g = g + momentum * buf  if nesterov, else  g = buf
        p = p - lr * g

    This is Sutskever et al. (2013)'s momentum written with the learning rate
    outside the buffer, which is what PyTorch implements. ``lr`` defaults to
    1e-3, as in PyTorch 2; each parameter group may set its own. Nesterov
    momentum needs momentum > 0 and no dampening, as in PyTorch.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _check(self, settings, where=""):
        super()._check(settings, where)
        if settings["nesterov"] and (settings["momentum"] <= 0 or settings["dampening"] != 0):
            raise ValueError(f"SGD: nesterov momentum requires momentum > 0 and dampening = 0, got momentum="
                             f"{settings['momentum']}, dampening={settings['dampening']}{where}")

    def update(self, grad, state, group):
        momentum = group["momentum"]
        if momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.copy()
            else:
                state["momentum_buffer"] = momentum * state["momentum_buffer"] + (1 - group["dampening"]) * grad
            buf = state["momentum_buffer"]
            grad = grad + momentum * buf if group["nesterov"] else buf
        return group["lr"] * grad
