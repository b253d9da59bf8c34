"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: StepLR, CosineAnnealingLR, OneCycleLR.

A schedule counts its ``step()`` calls in ``last_epoch`` (0 when made) and,
after each, sets the optimizer's learning rate to ``lr_at(last_epoch)``.
StepLR and CosineAnnealingLR are usually stepped once per epoch, OneCycleLR
once per batch. Each gives PyTorch's learning rate at every step (PyTorch
computes StepLR's and CosineAnnealingLR's by updating the previous value;
here they come from the closed form, which agrees to rounding).
"""

import math


class LRScheduler:
    """The shared part: ``base_lr`` (the optimizer's lr when the first schedule was made), the count, the state."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        group = optimizer.param_groups[0]
        group.setdefault("initial_lr", group["lr"])  # as PyTorch: a second schedule starts from the same base
        self.base_lr = group["initial_lr"]
        self.last_epoch = 0
        self._apply(0)

    def lr_at(self, step):
        """The learning rate after ``step`` calls of ``step()``."""
        raise NotImplementedError

    def _apply(self, step):
        self.optimizer.param_groups[0]["lr"] = self.lr_at(step)

    def step(self):
        self.last_epoch += 1
        self._apply(self.last_epoch)

    def get_last_lr(self):
        return [self.optimizer.param_groups[0]["lr"]]

    def state_dict(self):
        """Everything but the optimizer, as PyTorch's schedules save themselves."""
        return {key: value for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state):
        vars(self).update(state)
        self._apply(self.last_epoch)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs: lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def lr_at(self, step):
        return self.base_lr * self.gamma ** (step // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the base rate down to ``eta_min`` over ``T_max`` steps (and on, periodically):

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def lr_at(self, step):
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * step / self.T_max)) / 2


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
        group = optimizer.param_groups[0]
        if cycle_momentum and "momentum" not in group and "betas" not in group:
            raise ValueError("OneCycleLR: cycle_momentum needs an optimizer with momentum or betas")
        self.total_steps, self.anneal_strategy, self.cycle_momentum = total_steps, anneal_strategy, cycle_momentum
        self.use_beta1 = "betas" in group
        initial = max_lr / div_factor
        rates = {"initial": initial, "max": max_lr, "min": initial / final_div_factor}
        momenta = {"max": max_momentum, "base": base_momentum}
        # (the step a phase ends on, its start and end rate, its start and end momentum), as PyTorch's phases
        if three_phase:
            self.phases = [(pct_start * total_steps - 1, rates["initial"], rates["max"], momenta["max"], momenta["base"]),
                           (2 * pct_start * total_steps - 2, rates["max"], rates["initial"], momenta["base"],
                            momenta["max"]),
                           (total_steps - 1, rates["initial"], rates["min"], momenta["max"], momenta["max"])]
        else:
            self.phases = [(pct_start * total_steps - 1, rates["initial"], rates["max"], momenta["max"], momenta["base"]),
                           (total_steps - 1, rates["max"], rates["min"], momenta["base"], momenta["max"])]
        group["initial_lr"] = initial
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
        (_, start_lr, end_lr, _, _), fraction = self._position(step)
        return self._anneal(start_lr, end_lr, fraction)

    def momentum_at(self, step):
        (_, _, _, start_momentum, end_momentum), fraction = self._position(step)
        return self._anneal(start_momentum, end_momentum, fraction)

    def _apply(self, step):
        super()._apply(step)
        if self.cycle_momentum:
            group, momentum = self.optimizer.param_groups[0], self.momentum_at(step)
            if self.use_beta1:
                group["betas"] = (momentum,) + tuple(group["betas"][1:])
            else:
                group["momentum"] = momentum
