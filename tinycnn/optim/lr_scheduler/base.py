"""The schedules' shared part: each group's base rate, the step count, the state."""


class LRScheduler:
    """The shared part: ``base_lrs`` (each group's ``initial_lr``), the count, the state.

    A subclass gives ``lr_at(step)``, the rates after ``step`` calls of
    ``step()`` in closed form, from ``base_lrs`` and its own settings; the
    base sets them on the optimizer when the schedule is made (step 0), at
    each ``step()`` and when a state is loaded. ``state_dict`` is every
    attribute but the optimizer, as PyTorch's.
    """

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
        """Take ``state`` (this schedule's ``state_dict()``) and set the rates of the step it had reached."""
        self._load(state)
        self._apply(self.last_epoch)

    def _load(self, state):
        """Take ``state``'s attributes, leaving the optimizer's rates as they are."""
        self._check_state(state)
        vars(self).update(state)

    def _load_but(self, state, listed):
        """Take ``state``'s attributes but the list ``listed`` (one entry per group or schedule), which the caller
        takes; return that list, refused if its length differs from this schedule's."""
        self._check_state(state)
        saved, name = state[listed], type(self).__name__
        if len(saved) != len(getattr(self, listed)):
            raise ValueError(f"{name}.load_state_dict: the state has {len(saved)} {listed}, this {name} has "
                             f"{len(getattr(self, listed))}")
        vars(self).update({key: value for key, value in state.items() if key != listed})
        return saved

    def _check_state(self, state):
        """Refuse a state that is not this kind of schedule's, naming its file if it came from one."""
        name, source = type(self).__name__, f" (from {state.source})" if getattr(state, "source", None) else ""
        if "base_lrs" in vars(self) and "base_lrs" not in state:
            raise ValueError(f"{name}.load_state_dict{source}: a schedule's state from before schedules kept a "
                             "rate per parameter group; start the run afresh")
        missing = sorted(set(self.state_dict()) - set(state))
        if missing:
            raise ValueError(f"{name}.load_state_dict{source}: the state lacks {', '.join(missing)}; it is not a "
                             f"{name}'s state_dict()")


def per_group(scheduler, name, value, groups):
    """``value`` for each parameter group: a list or tuple gives one per group, as in PyTorch; a number is for all."""
    if not isinstance(value, (list, tuple)):
        return [value] * len(groups)
    if len(value) != len(groups):
        raise ValueError(f"{scheduler}: {name} has {len(value)} values for {len(groups)} parameter groups; give one "
                         "per group, or one number for all")
    return list(value)
