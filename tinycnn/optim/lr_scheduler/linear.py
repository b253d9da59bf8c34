"""A linear ramp of the rate's factor, usually a warm-up: from start_factor to end_factor over total_iters steps."""

from numbers import Integral

from tinycnn.optim.lr_scheduler.base import LRScheduler


class LinearLR(LRScheduler):
    """Scale each group's base rate by a factor that moves in a line, then stays, as PyTorch's ``LinearLR``::

        lr = base_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters)

    This is PyTorch's closed form; PyTorch steps by multiplying the previous
    rate by the ratio of successive factors, which agrees to rounding.
    PyTorch's limits on the factors hold: 0 < start_factor <= 1 and
    0 <= end_factor <= 1; ``total_iters`` must be >= 1.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must lie in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must lie in [0, 1], got {end_factor}")
        if not isinstance(total_iters, Integral) or total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be a whole number of steps >= 1, got {total_iters}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer)

    def lr_at(self, step):
        factor = self.start_factor + (self.end_factor - self.start_factor) * min(self.total_iters, step) / \
            self.total_iters
        return [base_lr * factor for base_lr in self.base_lrs]
