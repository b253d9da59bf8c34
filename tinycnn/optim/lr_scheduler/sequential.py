"""Schedules one after another (a warm-up, then a decay): SequentialLR."""

from bisect import bisect_right
from numbers import Integral

from tinycnn.optim.lr_scheduler.base import LRScheduler
from tinycnn.optim.lr_scheduler.plateau import ReduceLROnPlateau


class SequentialLR(LRScheduler):
    """Run ``schedulers[0]`` until ``milestones[0]`` steps, then ``schedulers[1]``, and so on, as PyTorch's.

    For example ``SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5),
    CosineAnnealingLR(opt, T_max=95)], milestones=[5])``: five steps of
    warm-up, then the cosine from the base rate. What PyTorch does to the
    schedules it is given, this does too:

    - when made, it sets every group's rate back to its ``initial_lr``,
      moves each schedule's count back by one (undoing the step each took
      when it was made), and lets the first one take its step 0 again;
    - at each ``step()`` only the schedule whose turn it is steps; on the
      step that reaches a milestone, the next schedule is restarted instead:
      its count is set to 0 and the rates to its step 0's (for CosineAnnealingLR,
      the base rate). Between milestones the schedule counts from its own
      0, so a later schedule's own milestones or T_max count from the
      SequentialLR milestone where it began.

    ``last_epoch`` counts this schedule's steps; ``state_dict()`` holds each
    schedule's state under ``"_schedulers"``. ReduceLROnPlateau (whose
    ``step`` needs a metric), a SequentialLR inside another and a schedule
    listed twice are refused (PyTorch takes the last two, with rates that
    follow from its recursive forms).
    """

    def __init__(self, optimizer, schedulers, milestones):
        schedulers, milestones = list(schedulers), list(milestones)
        if not schedulers:
            raise ValueError("SequentialLR: give at least one schedule in schedulers")
        for index, scheduler in enumerate(schedulers):
            if isinstance(scheduler, (ReduceLROnPlateau, SequentialLR)) or not isinstance(scheduler, LRScheduler):
                raise TypeError(f"SequentialLR: schedulers[{index}] is a {type(scheduler).__name__}; give schedules "
                                "stepped without arguments (not ReduceLROnPlateau, not another SequentialLR)")
            if scheduler.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{index}] ({type(scheduler).__name__}) was made for "
                                 "another optimizer; make every schedule for the optimizer given here")
        if len({id(scheduler) for scheduler in schedulers}) != len(schedulers):
            raise ValueError("SequentialLR: a schedule is listed twice in schedulers; make a new one for each stretch "
                             "(PyTorch's recursive rates differ from a closed form's for a schedule run twice)")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need {len(schedulers) - 1} milestones (the "
                             f"steps where each after the first begins), got {len(milestones)}")
        if not all(isinstance(m, Integral) for m in milestones) or milestones != sorted(milestones):
            raise ValueError(f"SequentialLR: milestones must be step counts in increasing order, got {milestones}")
        self.optimizer, self._schedulers, self._milestones = optimizer, schedulers, milestones
        self.last_epoch = 0
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in schedulers:
            scheduler.last_epoch -= 1
        first = self._current()
        first.last_epoch += 1
        first._apply(first.last_epoch)

    def _current(self):
        """The schedule whose turn it is at ``last_epoch``."""
        return self._schedulers[bisect_right(self._milestones, self.last_epoch)]

    def step(self):
        self.last_epoch += 1
        scheduler = self._current()
        if self.last_epoch in self._milestones:  # its first step: restart it from its step 0
            scheduler.last_epoch = 0
            scheduler._apply(0)
        else:
            scheduler.step()

    def state_dict(self):
        state = {key: value for key, value in vars(self).items() if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state):
        """Take ``state`` (a SequentialLR's ``state_dict()`` with as many schedules) and set the current rates."""
        saved = self._load_but(state, "_schedulers")
        self._milestones = list(self._milestones)
        for scheduler, scheduler_state in zip(self._schedulers, saved):
            scheduler._load(scheduler_state)  # only the current one sets the rates: the others' counts may be -1
        current = self._current()
        current._apply(current.last_epoch)
