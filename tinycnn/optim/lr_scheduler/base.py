"""The schedules' shared part: each group's base rate, the step count, the state."""


class LRScheduler:
    """The shared part: ``base_lrs`` (each group's ``initial_lr``), the count, the state."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])  # as PyTorch: a second schedule starts from the same base
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply(0)

    def lr_at(self, step):
        """The learning rates after ``step`` calls of ``step()``: one per parameter group."""
        raise NotImplementedError

    def _apply(self, step):
        for group, lr in zip(self.optimizer.param_groups, self.lr_at(step)):
            group["lr"] = lr

    def step(self):
        self.last_epoch += 1
        self._apply(self.last_epoch)

    def get_last_lr(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Everything but the optimizer, as PyTorch's schedules save themselves."""
        return {key: value for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state):
        source = f" (from {state.source})" if getattr(state, "source", None) else ""
        if "base_lrs" not in state:
            raise ValueError(f"{type(self).__name__}.load_state_dict{source}: a schedule's state from before "
                             "schedules kept a rate per parameter group; start the run afresh")
        vars(self).update(state)
        self._apply(self.last_epoch)


def per_group(scheduler, name, value, groups):
    """``value`` for each parameter group: a list or tuple gives one per group, as in PyTorch; a number is for all."""
    if not isinstance(value, (list, tuple)):
        return [value] * len(groups)
    if len(value) != len(groups):
        raise ValueError(f"{scheduler}: {name} has {len(value)} values for {len(groups)} parameter groups; give one "
                         "per group, or one number for all")
    return list(value)
