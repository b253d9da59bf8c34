"""Schedules that multiply the rate by gamma: every step_size steps (StepLR), at milestones (MultiStepLR), at every
step (ExponentialLR).

PyTorch multiplies the previous rate by gamma when the time comes; here the
rate comes from the closed form ``base_lr * gamma ** k`` (k the number of
multiplications so far), which agrees with it to rounding.
"""

from collections import Counter
from numbers import Integral

from tinycnn.optim.lr_scheduler.base import LRScheduler


class StepLR(LRScheduler):
    """Multiply each group's rate by ``gamma`` every ``step_size`` epochs: base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def lr_at(self, step):
        return [base_lr * self.gamma ** (step // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply each group's rate by ``gamma`` at each of ``milestones`` (step counts, e.g. ``[30, 80]``).

        lr = base_lr * gamma ** (how many milestones are <= epoch)

    As in PyTorch, ``milestones`` is kept as a ``Counter``, and one listed
    twice multiplies by gamma twice when it is reached.
    """

    def __init__(self, optimizer, milestones, gamma=0.1):
        milestones = list(milestones)
        if not all(isinstance(m, Integral) and not isinstance(m, bool) for m in milestones):
            raise TypeError(f"MultiStepLR: milestones must be step counts (ints), got {milestones}")
        self.milestones, self.gamma = Counter(int(m) for m in milestones), gamma
        super().__init__(optimizer)

    def lr_at(self, step):
        passed = sum(count for milestone, count in self.milestones.items() if milestone <= step)
        return [base_lr * self.gamma ** passed for base_lr in self.base_lrs]

    def _load(self, state):
        super()._load(state)
        self.milestones = Counter(self.milestones)  # a checkpoint gives back a plain dict


class ExponentialLR(LRScheduler):
    """Multiply each group's rate by ``gamma`` at every step: base_lr * gamma ** epoch."""

    def __init__(self, optimizer, gamma):
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, step):
        return [base_lr * self.gamma**step for base_lr in self.base_lrs]
