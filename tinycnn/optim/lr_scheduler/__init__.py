"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: StepLR, CosineAnnealingLR, OneCycleLR.

A schedule counts its ``step()`` calls in ``last_epoch`` (0 when made) and,
after each, sets the learning rate of every parameter group of the
optimizer to ``lr_at(last_epoch)``'s value for it. As in PyTorch, each
group's rate follows from that group's own base rate (its ``initial_lr``:
its ``lr`` when the first schedule was made), so groups with different
rates keep their ratio. StepLR and CosineAnnealingLR are usually stepped
once per epoch, OneCycleLR once per batch. Each gives PyTorch's learning
rate at every step (PyTorch computes StepLR's and CosineAnnealingLR's by
updating the previous value; here they come from the closed form, which
agrees to rounding).
"""

from tinycnn.optim.lr_scheduler.base import LRScheduler
from tinycnn.optim.lr_scheduler.cosine import CosineAnnealingLR
from tinycnn.optim.lr_scheduler.one_cycle import OneCycleLR
from tinycnn.optim.lr_scheduler.step import StepLR

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR", "OneCycleLR"]
