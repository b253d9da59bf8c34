"""Cosine annealing (Loshchilov and Hutter, 2017), without restarts."""

import math

from tinycnn.optim.lr_scheduler.base import LRScheduler


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
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * step / self.T_max)) / 2
                for base_lr in self.base_lrs]
