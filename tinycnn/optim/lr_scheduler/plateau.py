"""Lower the rate when a watched number (a validation loss, an accuracy) stops improving: ReduceLROnPlateau."""

import math
from numbers import Integral

import numpy as np

from tinycnn.optim.lr_scheduler.base import LRScheduler, per_group
from tinycnn.tensor import Tensor


class ReduceLROnPlateau(LRScheduler):
    """PyTorch's ``ReduceLROnPlateau``: ``step(metric)`` once per evaluation; after more than ``patience`` steps
    without improvement, every group's rate is multiplied by ``factor``.

    The rule, as PyTorch's (a recursive one: each reduction scales the
    group's current rate, so a rate set by hand is scaled from there):

    - ``metric`` improves on ``best`` when it is below ``best * (1 -
      threshold)`` (``mode="min"``, ``threshold_mode="rel"``), below ``best
      - threshold`` (``"abs"``), or above ``best * (1 + threshold)`` / ``best
      + threshold`` with ``mode="max"``; an improvement becomes ``best`` and
      resets the count of bad steps, anything else (NaN included) adds one;
    - during the ``cooldown`` steps after a reduction, bad steps are not
      counted;
    - when the count passes ``patience``, each group's rate becomes
      ``max(lr * factor, min_lr)`` (``min_lr`` one number, or one per group),
      unless that would change it by ``eps`` or less; the cooldown starts and
      the count resets.

    The rates are not touched when the schedule is made, and
    ``load_state_dict`` restores the counters and ``best`` but not the rates:
    those come back with the optimizer's ``load_state_dict``, as in PyTorch.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' (a loss) or 'max' (an accuracy), got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must lie in [0, 1) (the rate is multiplied by it), got "
                             f"{factor}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if not isinstance(value, Integral) or value < 0:
                raise ValueError(f"ReduceLROnPlateau: {name} must be a whole number of steps >= 0, got {value}")
        self.optimizer = optimizer
        self.factor, self.patience, self.cooldown, self.eps = factor, patience, cooldown, eps
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        # as PyTorch: one number is kept to fill in for groups added later; a list is for these groups only
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.min_lrs = per_group("ReduceLROnPlateau", "min_lr", min_lr, optimizer.param_groups)
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self.best, self.cooldown_counter, self.num_bad_epochs = self.mode_worse, 0, 0

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def is_better(self, metric, best):
        """Whether ``metric`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            return metric < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return metric > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics):
        """Count one evaluation of the watched number ``metrics`` (a float, a NumPy scalar or a one-number Tensor)."""
        value = metrics.data if isinstance(metrics, Tensor) else metrics
        try:
            current = float(np.asarray(value).item())
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: metrics must be one number (a validation loss or accuracy), "
                            f"got a {type(metrics).__name__} of shape {np.shape(value)}") from None
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad steps in the cooldown are not counted
        if self.num_bad_epochs > self.patience:
            self._reduce()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def _reduce(self):
        groups = self.optimizer.param_groups
        if len(self.min_lrs) != len(groups):
            if self.default_min_lr is None:
                raise ValueError(f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter groups, min_lr was "
                                 f"given for {len(self.min_lrs)}; set scheduler.min_lrs to one value per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            new_lr = max(group["lr"] * self.factor, min_lr)
            if group["lr"] - new_lr > self.eps:
                group["lr"] = new_lr

    def load_state_dict(self, state):
        """Take the counters, ``best`` and the settings from ``state``; the rates come with the optimizer's state."""
        self._load(state)
