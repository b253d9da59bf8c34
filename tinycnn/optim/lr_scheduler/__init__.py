"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: StepLR, MultiStepLR, ExponentialLR, LinearLR,
LambdaLR, CosineAnnealingLR, OneCycleLR, SequentialLR, ReduceLROnPlateau.

A schedule counts its ``step()`` calls in ``last_epoch`` (0 when made) and,
after each, sets the learning rate of every parameter group of the
optimizer to ``lr_at(last_epoch)``'s value for it. As in PyTorch, each
group's rate follows from that group's own base rate (its ``initial_lr``:
its ``lr`` when the first schedule was made), so groups with different
rates keep their ratio; ``get_last_lr()`` gives the rates, one per group.
OneCycleLR is usually stepped once per batch, the others once per epoch.

Each gives PyTorch's learning rate at every step, to rounding. PyTorch
computes most of them recursively, from the rate the previous step left in
the group (StepLR, MultiStepLR, ExponentialLR, LinearLR, CosineAnnealingLR);
here they come from the closed form of the step count, which agrees to
rounding when the schedule alone sets the rates. They part where something
else changes ``group["lr"]`` between steps: PyTorch builds on the change
(two schedules stepped on one optimizer multiply), here the next step
overwrites it. LambdaLR and OneCycleLR are closed forms in PyTorch too;
ReduceLROnPlateau is recursive here as there (each reduction scales the
current rate). SequentialLR hands each stretch of steps to one of these.
"""

from tinycnn.optim.lr_scheduler.base import LRScheduler
from tinycnn.optim.lr_scheduler.cosine import CosineAnnealingLR
from tinycnn.optim.lr_scheduler.lambda_lr import LambdaLR
from tinycnn.optim.lr_scheduler.linear import LinearLR
from tinycnn.optim.lr_scheduler.one_cycle import OneCycleLR
from tinycnn.optim.lr_scheduler.plateau import ReduceLROnPlateau
from tinycnn.optim.lr_scheduler.sequential import SequentialLR
from tinycnn.optim.lr_scheduler.step import ExponentialLR, MultiStepLR, StepLR

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "LinearLR", "LambdaLR", "CosineAnnealingLR",
           "OneCycleLR", "SequentialLR", "ReduceLROnPlateau"]
