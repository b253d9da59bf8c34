"""The engine's seeded random generator.

Every random draw in tinycnn (weight initialisation, augmentation, shuffling)
takes a ``numpy.random.Generator`` argument; where none is given, it uses the
default generator here, which ``manual_seed`` resets, as ``torch.manual_seed``
does. Same seed, same numbers.
"""

import numpy as np

_default_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Reset the default generator to ``seed`` and return it."""
    global _default_generator
    _default_generator = np.random.default_rng(seed)
    return _default_generator


def default_generator():
    return _default_generator
