"""Schedules that multiply the rate by gamma: every step_size steps (StepLR)."""

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
