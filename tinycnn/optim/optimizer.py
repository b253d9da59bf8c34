"""The Optimizer base: parameter groups, per-parameter state, zero_grad."""


class Optimizer:
    """Holds the parameters, one dict of hyper-parameters, and a state dict per parameter.

    As in PyTorch, ``param_groups`` is a list of dicts (here always one group)
    whose ``"lr"`` a scheduler may change, and ``state[id(p)]`` holds what a
    method remembers between steps (momentum buffers, Adam's moments).
    """

    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for name, value in defaults.items():
            if isinstance(value, (int, float)) and value < 0:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 0, got {value}")
        self.param_groups = [dict(defaults, params=params)]
        self.state = {}

    @property
    def params(self):
        return self.param_groups[0]["params"]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        raise NotImplementedError
