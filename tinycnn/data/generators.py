"""The seeded generators of the data pipeline: checking one, and its state as a checkpoint holds it.

The loader's shuffle and every random transform draw from a
``numpy.random.Generator`` the caller passes (tinycnn's ``torch.Generator``),
or from tinycnn's default generator (tinycnn/random.py) when given None.
Their ``state_dict()`` saves the state of a generator of their own: a dict
of numbers and strings (``bit_generator.state``), which ``tinycnn.save``
stores. The default generator is shared by everything that draws from it,
so it is not theirs to save or rewind: their state then holds None.
"""

import numpy as np


def check_generator(owner, generator):
    """``generator`` if it is a ``numpy.random.Generator`` or None, else a TypeError saying what to pass."""
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"{owner}: generator must be a numpy.random.Generator, e.g. np.random.default_rng(42) "
                        f"(where PyTorch takes torch.Generator().manual_seed(42)), got {type(generator).__name__}")
    return generator


def generator_state(generator):
    """The state of ``generator`` (``bit_generator.state``, a dict), or None for the default generator (None)."""
    return None if generator is None else generator.bit_generator.state


def set_generator_state(owner, generator, state):
    """Put ``generator`` back in ``state`` (from ``generator_state``); the error names ``owner`` if it cannot."""
    if state is None and generator is None:
        return
    if state is None or generator is None:
        has, saved = ("its own generator", "the default generator's") if state is None else (
            "the default generator", "its own generator's")
        raise ValueError(f"{owner}.load_state_dict: this one draws from {has}, the state was saved from one that "
                         f"drew from {saved}; make it as the saved one was made (generator=... or None)")
    try:
        generator.bit_generator.state = dict(state)
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"{owner}.load_state_dict: the saved generator state does not fit its "
                         f"{type(generator.bit_generator).__name__} generator ({error})") from None
