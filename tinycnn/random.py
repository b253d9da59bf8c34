"""The engine's seeded random generator.

Every random draw in tinycnn (weight initialisation, augmentation, shuffling)
takes a ``numpy.random.Generator`` argument; where none is given, it uses the
default generator here, which ``manual_seed`` resets, as ``torch.manual_seed``
does. Same seed, same numbers.

``get_rng_state`` and ``set_rng_state`` save and restore the default
generator, as ``torch.get_rng_state`` / ``set_rng_state``: the state is a
dict (``bit_generator.state``), which ``tinycnn.save`` stores, where
PyTorch's is a byte tensor. A resume also needs every other generator the
run draws from; ``tinycnn.training_state`` collects them all
(tinycnn/resume.py).
"""

import numpy as np

_default_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Reset the default generator to ``seed`` and return it.

    Reset in place, as ``torch.manual_seed`` reseeds PyTorch's one default
    generator: whatever took ``default_generator()`` before the call (a loader
    or an augmentation made earlier) draws the seeded numbers too, the same
    ones a fresh ``np.random.default_rng(seed)`` would give.
    """
    return _reseed(_default_generator, seed)


def _reseed(generator, seed):
    """Put ``generator`` in the state a fresh ``np.random.default_rng(seed)`` starts in (PCG64), in place."""
    generator.bit_generator.state = np.random.PCG64(seed).state
    return generator


class Generator(np.random.Generator):
    """A NumPy generator with PyTorch's ``torch.Generator`` methods, for the lines that make one:
    ``random_split(data, [50000, 10000], generator=tinycnn.Generator().manual_seed(42))``.

    It is a ``numpy.random.Generator`` (PCG64), so every tinycnn function
    that takes a generator takes it. The numbers differ from PyTorch's for
    the same seed: the two engines draw differently.
    """

    def __init__(self, device="cpu"):
        from tinycnn.device import device as check_device

        check_device(device)
        self._seed = 0
        super().__init__(np.random.PCG64(0))

    def manual_seed(self, seed):
        """Reseed in place and return the generator, as ``torch.Generator.manual_seed``."""
        self._seed = int(seed)
        return _reseed(self, self._seed)

    def initial_seed(self):
        return self._seed

    def get_state(self):
        return self.bit_generator.state

    def set_state(self, state):
        self.bit_generator.state = dict(state)


def default_generator():
    return _default_generator


def get_rng_state():
    """The default generator's state, a dict of numbers and strings (``bit_generator.state``), for a checkpoint."""
    return _default_generator.bit_generator.state


def set_rng_state(state):
    """Put the default generator back in ``state`` (from ``get_rng_state``).

    The generator is changed in place, not replaced, so that whatever holds
    it (a loader or an augmentation given ``default_generator()``) draws the
    restored numbers too.
    """
    if not isinstance(state, dict) or "bit_generator" not in state:
        raise TypeError(f"set_rng_state: takes the dict that get_rng_state() returned, got {type(state).__name__}")
    kind = type(_default_generator.bit_generator).__name__
    if state["bit_generator"] != kind:
        raise ValueError(f"set_rng_state: the state is of a {state['bit_generator']} generator, tinycnn's default "
                         f"generator is a {kind}; give a state from tinycnn.get_rng_state()")
    _default_generator.bit_generator.state = dict(state)
