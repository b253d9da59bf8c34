"""The Optimizer base: parameter groups, per-parameter state, the shared part of a step."""

import math

import numpy as np


class Optimizer:
    """Holds the parameters, one dict of hyper-parameters, and a state dict per parameter.

    As in PyTorch, ``param_groups`` is a list of dicts (here always one group)
    whose ``"lr"`` a scheduler may change, and ``state[id(p)]`` holds what a
    method remembers between steps (momentum buffers, Adam's moments).

    ``step`` does what every method shares: skip parameters without a
    gradient, apply the weight decay, and apply ``p = p - update``, keeping
    p's dtype. Subclasses say what the update is. Weight decay comes in two
    forms, as in PyTorch:

    - L2 (SGD, Adam): the penalty's gradient joins the gradient,
      ``g = g + weight_decay * p``, and goes through the method's update
      like any gradient (Adam rescales it by its second moment);
    - decoupled (AdamW, ``decoupled_weight_decay = True``): the weight
      itself shrinks, ``p = p * (1 - lr * weight_decay)``, and the update
      sees the raw gradient.
    """

    decoupled_weight_decay = False

    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for name, value in defaults.items():
            if isinstance(value, (int, float)) and not 0 <= value < math.inf:  # NaN fails both comparisons
                raise ValueError(f"{type(self).__name__}: {name} must be a finite number >= 0, got {value}")
        self.defaults = dict(defaults)
        self.param_groups = [dict(defaults, params=params)]
        self.state = {}

    @property
    def params(self):
        return self.param_groups[0]["params"]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        group = self.param_groups[0]
        for p in self.params:
            if p.grad is None:
                continue
            grad = p.grad
            if group["weight_decay"] and self.decoupled_weight_decay:
                p.data = (p.data * (1 - group["lr"] * group["weight_decay"])).astype(p.dtype, copy=False)
            elif group["weight_decay"]:
                grad = grad + group["weight_decay"] * p.data
            update = self.update(grad, self.state.setdefault(id(p), {}), group)
            p.data = (p.data - update).astype(p.dtype, copy=False)

    def state_dict(self):
        """PyTorch's layout: {"state": {parameter index: its state}, "param_groups": [hyper-parameters, "params": indices]}.

        Arrays are copied, so that training on does not change a saved state.
        """
        index = {id(p): i for i, p in enumerate(self.params)}
        state = {index[key]: {name: value.copy() if isinstance(value, np.ndarray) else value
                              for name, value in entry.items()}
                 for key, entry in self.state.items() if key in index}
        group = {name: value for name, value in self.param_groups[0].items() if name != "params"}
        return {"state": state, "param_groups": [dict(group, params=list(range(len(self.params))))]}

    def load_state_dict(self, state_dict):
        """Take the state and hyper-parameters of ``state_dict`` (from ``state_dict()``) for the same parameters."""
        source = f" (from {state_dict.source})" if getattr(state_dict, "source", None) else ""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            counts = [len(group["params"]) for group in groups]
            raise ValueError(f"{name}.load_state_dict{source}: the state is for parameter groups of {counts} "
                             f"parameters; this optimizer has one group of {len(self.params)}")
        state = {}
        for index, entry in state_dict["state"].items():
            p = self.params[int(index)]
            for key, value in entry.items():
                if isinstance(value, np.ndarray) and value.shape != p.shape:
                    raise ValueError(f"{name}.load_state_dict{source}: parameter {index}'s {key} has shape "
                                     f"{value.shape}, the parameter has {p.shape}")
            state[id(p)] = {key: value.copy() if isinstance(value, np.ndarray) else value
                            for key, value in entry.items()}
        self.state = state
        self.param_groups[0].update({key: value for key, value in groups[0].items() if key != "params"})

    def update(self, grad, state, group):
        """The amount to subtract from a parameter, given its (decayed) gradient and its state."""
        raise NotImplementedError
