"""Optimizers, in order of increasing complexity: SGD (with momentum), Adam; and StepLR."""

from tinycnn.optim import lr_scheduler
from tinycnn.optim.adam import Adam
from tinycnn.optim.optimizer import Optimizer
from tinycnn.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "lr_scheduler"]
