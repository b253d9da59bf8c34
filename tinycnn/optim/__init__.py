"""Optimizers, in order of increasing complexity: SGD (with momentum), RMSprop, Adam, AdamW; the schedules in
lr_scheduler."""

from tinycnn.optim import lr_scheduler
from tinycnn.optim.adam import Adam, AdamW
from tinycnn.optim.optimizer import Optimizer
from tinycnn.optim.rmsprop import RMSprop
from tinycnn.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "lr_scheduler"]
