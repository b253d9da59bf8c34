"""A schedule the caller writes: each group's base rate times a function of the step count."""

import types

from tinycnn.optim.lr_scheduler.base import LRScheduler, per_group


class LambdaLR(LRScheduler):
    """``lr = base_lr * lr_lambda(epoch)``, as PyTorch's ``LambdaLR`` (which computes it the same way).

    ``lr_lambda`` is one function for every group, or a list with one per
    group, e.g. ``[lambda epoch: epoch // 30, lambda epoch: 0.95 ** epoch]``.
    It is called with 0 when the schedule is made, then with 1, 2, ... at
    each ``step()``.

    As in PyTorch, ``state_dict()`` cannot hold a function: in its
    ``"lr_lambdas"`` a function (a lambda, a builtin) is None, and a
    callable object gives a copy of its ``__dict__``, which
    ``load_state_dict`` puts back into the matching object of the new
    schedule. So a schedule made again with the same functions resumes
    where it was.
    """

    def __init__(self, optimizer, lr_lambda):
        self.lr_lambdas = per_group("LambdaLR", "lr_lambda", lr_lambda, optimizer.param_groups)
        for index, function in enumerate(self.lr_lambdas):
            if not callable(function):
                raise TypeError(f"LambdaLR: lr_lambda {index} is a {type(function).__name__}, not a function of the "
                                "step count (e.g. lambda epoch: 0.95 ** epoch)")
        super().__init__(optimizer)

    def lr_at(self, step):
        return [base_lr * function(step) for function, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        state = super().state_dict()
        # a builtin (math.exp) has no attributes to keep either, where PyTorch fails
        state["lr_lambdas"] = [None if isinstance(function, types.FunctionType) or not hasattr(function, "__dict__")
                               else dict(vars(function)) for function in self.lr_lambdas]
        return state

    def _load(self, state):
        for function, attributes in zip(self.lr_lambdas, self._load_but(state, "lr_lambdas")):
            if attributes is not None:
                vars(function).update(attributes)
