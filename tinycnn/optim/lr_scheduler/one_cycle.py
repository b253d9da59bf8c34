"""The 1cycle policy: the rate up then down, the momentum down then up."""

import math

from tinycnn.optim.lr_scheduler.base import LRScheduler, per_group


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith and Topin, 2018), as ``torch.optim.lr_scheduler.OneCycleLR``; step it every batch.

    The rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of ``total_steps`` (or ``epochs * steps_per_epoch``), then
    falls to ``initial / final_div_factor`` by the last step, each phase
    along half a cosine (or a line, ``anneal_strategy="linear"``). With
    ``cycle_momentum``, the momentum (SGD's ``momentum``, Adam's first beta)
    moves the other way, from ``max_momentum`` down to ``base_momentum`` and
    back. ``three_phase`` adds PyTorch's third phase (up, down to the start,
    then down to the minimum). Stepping past ``total_steps`` is an error.

    ``max_lr``, ``base_momentum`` and ``max_momentum`` may be lists, one
    value per parameter group, as in PyTorch; like PyTorch, each group keeps
    its own ``initial_lr``, ``max_lr``, ``min_lr`` (and ``max_momentum``,
    ``base_momentum``), which the phases name, so they travel with the
    optimizer's state.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if total_steps < 1:
            raise ValueError(f"OneCycleLR: total_steps must be >= 1, got {total_steps}")
        if not 0.0 <= pct_start <= 1.0:
            raise ValueError(f"OneCycleLR: pct_start must lie in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        defaults, groups = optimizer.defaults, optimizer.param_groups
        if cycle_momentum and "momentum" not in defaults and "betas" not in defaults:
            raise ValueError("OneCycleLR: cycle_momentum needs an optimizer with momentum or betas")
        self.total_steps, self.anneal_strategy, self.cycle_momentum = total_steps, anneal_strategy, cycle_momentum
        self.use_beta1 = "betas" in defaults
        max_lrs = per_group("OneCycleLR", "max_lr", max_lr, groups)
        highs = per_group("OneCycleLR", "max_momentum", max_momentum, groups)
        lows = per_group("OneCycleLR", "base_momentum", base_momentum, groups)
        for group, group_max_lr, high, low in zip(groups, max_lrs, highs, lows):
            group["initial_lr"] = group_max_lr / div_factor
            group["max_lr"] = group_max_lr
            group["min_lr"] = group["initial_lr"] / final_div_factor
            if cycle_momentum:
                group["max_momentum"], group["base_momentum"] = high, low
        # (the step a phase ends on, the group entries of its start and end rate and momentum), as PyTorch's phases
        if three_phase:
            self.phases = [(pct_start * total_steps - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (2 * pct_start * total_steps - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                           (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self.phases = [(pct_start * total_steps - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        super().__init__(optimizer)

    def _anneal(self, start, end, fraction):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
        return (end - start) * fraction + start

    def _position(self, step):
        """(phase, fraction of the way through it) of ``step``."""
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times, beyond total_steps = {self.total_steps}")
        start = 0.0
        for index, phase in enumerate(self.phases):
            end = phase[0]
            if step <= end or index == len(self.phases) - 1:
                return phase, (step - start) / (end - start)
            start = end

    def lr_at(self, step):
        (_, start, end, _, _), fraction = self._position(step)
        return [self._anneal(group[start], group[end], fraction) for group in self.optimizer.param_groups]

    def momentum_at(self, step):
        """The momenta (SGD's momentum, or Adam's first beta) after ``step`` steps: one per parameter group."""
        (_, _, _, start, end), fraction = self._position(step)
        return [self._anneal(group[start], group[end], fraction) for group in self.optimizer.param_groups]

    def _apply(self, step):
        super()._apply(step)
        if self.cycle_momentum:
            for group, momentum in zip(self.optimizer.param_groups, self.momentum_at(step)):
                if self.use_beta1:
                    group["betas"] = (momentum,) + tuple(group["betas"][1:])
                else:
                    group["momentum"] = momentum
