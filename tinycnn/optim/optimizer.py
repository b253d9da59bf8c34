"""The Optimizer base: parameter groups, per-parameter state, the shared part of a step."""

import math

import numpy as np

from tinycnn.tensor import Tensor


class Optimizer:
    """Holds the parameter groups, and a state dict per parameter.

    As in PyTorch, ``params`` is an iterable of tensors (``model.parameters()``:
    one group, with the constructor's hyper-parameters) or of dicts, one per
    *parameter group*: ``{"params": [...], "lr": 0.01}``; a hyper-parameter
    that a group does not give is the constructor's (``defaults``).
    ``param_groups`` is the list of those dicts, each with its own ``"lr"``
    that a scheduler may change, and ``state[id(p)]`` holds what a method
    remembers between steps (momentum buffers, Adam's moments).

    ``step`` does what every method shares: skip parameters without a
    gradient, negate it if the group says ``maximize`` (gradient ascent, as
    PyTorch's option), apply the weight decay, and apply ``p = p - update``,
    keeping p's dtype. Subclasses say what the update is. Weight decay comes
    in two forms, as in PyTorch:

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
        self._check(defaults)
        self.defaults = dict(defaults)
        self.param_groups, self.state = [], {}
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a group (a dict with ``"params"``), filling the hyper-parameters it does not give from ``defaults``.

        As PyTorch's: a parameter may be in one group only, and the
        parameters must come in an ordered collection (a set's order changes
        from run to run, and so would the state's order in a checkpoint).
        """
        name, where = type(self).__name__, f"parameter group {len(self.param_groups)}"
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: {where} is a {type(group).__name__}, not a dict with a 'params' entry; pass "
                            f"the parameters (model.parameters()), or a list of dicts each with 'params' (PyTorch's "
                            f"parameter groups), not both")
        params = group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: the parameters of {where} are a set, whose order changes from run to run; pass "
                            "a list")
        params = [params] if isinstance(params, Tensor) else list(params)
        for index, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {index} of {where} is a {type(p).__name__}, not a Tensor; pass "
                                f"the parameters (model.parameters()), or a list of dicts each with 'params' "
                                f"(PyTorch's parameter groups), not both")
        taken = {id(p) for other in self.param_groups for p in other["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError(f"{name}: {where} holds a parameter that is already in an earlier group; each parameter "
                             "may be in one group only, as in PyTorch")
        settings = dict(self.defaults, **{key: value for key, value in group.items() if key != "params"})
        self._check(settings, f" (in {where})")
        self.param_groups.append(dict(settings, params=params))

    def _check(self, settings, where=""):
        """Refuse hyper-parameters the update cannot use; ``where`` says which group they came from."""
        for key, value in settings.items():
            if isinstance(value, (int, float)) and not 0 <= value < math.inf:  # NaN fails both comparisons
                raise ValueError(f"{type(self).__name__}: {key} must be a finite number >= 0, got {value}{where}")

    def _parameters(self):
        """Every parameter, group by group: their indices in ``state_dict``, as in PyTorch."""
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: None (PyTorch 2's default), or new arrays of zeros with ``set_to_none=False``
        (new, not the old ones zeroed: backward may hand one array to two parameters; see ``Module.zero_grad``)."""
        for p in self._parameters():
            p.grad = None if set_to_none or p.grad is None else np.zeros_like(p.grad)

    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = -p.grad if group["maximize"] else p.grad  # as PyTorch: negated before the decay joins it
                if group["weight_decay"] and self.decoupled_weight_decay:
                    p.data = (p.data * (1 - group["lr"] * group["weight_decay"])).astype(p.dtype, copy=False)
                elif group["weight_decay"]:
                    grad = grad + group["weight_decay"] * p.data
                update = self.update(grad, self.state.setdefault(id(p), {}), group)
                p.data = (p.data - update).astype(p.dtype, copy=False)

    def state_dict(self):
        """PyTorch's layout: {"state": {index: its state}, "param_groups": [hyper-parameters, "params": indices]}.

        Parameters are numbered across the groups in order, as in PyTorch.
        Arrays are copied, so that training on does not change a saved state.
        """
        index = {id(p): i for i, p in enumerate(self._parameters())}
        state = {index[key]: {name: value.copy() if isinstance(value, np.ndarray) else value
                              for name, value in entry.items()}
                 for key, entry in self.state.items() if key in index}
        groups, start = [], 0
        for group in self.param_groups:
            count = len(group["params"])
            settings = {name: value for name, value in group.items() if name != "params"}
            groups.append(dict(settings, params=list(range(start, start + count))))
            start += count
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Take the state and each group's hyper-parameters from ``state_dict`` (``state_dict()`` of an optimizer of
        the same parameters, in groups of the same sizes)."""
        source = f" (from {state_dict.source})" if getattr(state_dict, "source", None) else ""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        saved_counts = [len(group["params"]) for group in groups]
        counts = [len(group["params"]) for group in self.param_groups]
        if saved_counts != counts:
            raise ValueError(f"{name}.load_state_dict{source}: the state is for parameter groups of {saved_counts} "
                             f"parameters; this optimizer has groups of {counts}")
        # the saved groups' indices name the parameters of the groups here, in order (PyTorch's mapping)
        by_index = {int(index): p for saved, group in zip(groups, self.param_groups)
                    for index, p in zip(saved["params"], group["params"])}
        state = {}
        for index, entry in state_dict["state"].items():
            p = by_index[int(index)]
            for key, value in entry.items():
                if isinstance(value, np.ndarray) and value.shape != p.shape:
                    raise ValueError(f"{name}.load_state_dict{source}: parameter {index}'s {key} has shape "
                                     f"{value.shape}, the parameter has {p.shape}")
            state[id(p)] = {key: value.copy() if isinstance(value, np.ndarray) else value
                            for key, value in entry.items()}
        self.state = state
        for group, saved in zip(self.param_groups, groups):
            group.update({key: value for key, value in saved.items() if key != "params"})

    def update(self, grad, state, group):
        """The amount to subtract from a parameter, given its (decayed) gradient and its state."""
        raise NotImplementedError
