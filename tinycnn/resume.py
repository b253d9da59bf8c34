"""Resume in one call: everything a run needs to go on bit for bit, gathered and put back.

    tinycnn.save(tinycnn.training_state(model=model, optimizer=optimizer, scheduler=scheduler, loader=loader,
                                        epoch=epoch), "checkpoint.npz")
    ...
    state = tinycnn.load("checkpoint.npz")
    tinycnn.load_training_state(state, model=model, optimizer=optimizer, scheduler=scheduler, loader=loader)
    start = state["epoch"] + 1

``training_state(**objects)`` is the dict a PyTorch script writes by hand,
``{"model": model.state_dict(), "optimizer": optimizer.state_dict(), ...,
"epoch": epoch}``: each object with a ``state_dict()`` gives it under its
keyword, and any other value (an epoch, a list of losses) is kept as it
is. To it, under ``"random"``, is added the state of every generator the
run may draw from, so that the script need not know where each lives:

- tinycnn's default generator (``tinycnn.get_rng_state()``), which the
  loader's shuffle, the transforms and dropout use when given none;
- every ``numpy.random.Generator`` reachable from the objects given,
  through their attributes, lists, tuples and dicts: a ``Dropout``'s, the
  loader's, each random transform's in a ``Compose`` of the loader's data
  set (however deep: a ``Subset`` of a data set with a transform), a
  ``Generator`` given as a keyword itself. Each is named by the path it
  was found at, e.g. ``model.drop.generator``;
- NumPy's global generator (``np.random.get_state()``) and Python's
  ``random``, in case the script itself draws from them.

The loader's ``state_dict()`` also holds where its epoch is, so a state
taken in the middle of an epoch resumes with the batches that would have
come next (tinycnn/data/dataloader.py).

``load_training_state(state, **objects)`` takes the same objects, built
as the saved run built them, calls each one's ``load_state_dict`` and puts
every generator back, in place. Generators found at other paths than the
saved ones mean the objects were built otherwise (a ``generator=``
argument given in one run and not the other): that is refused, naming the
paths, since the resumed run would not draw the same numbers.
"""

import random
import types

import numpy as np

from tinycnn.random import get_rng_state, set_rng_state
from tinycnn.tensor import Tensor

RANDOM = "random"  # the key of the generators' states in a training state
DEEPEST = 32  # how many attributes deep the search for generators goes (a guard against odd object graphs)

# values that hold no generator, so the search does not look inside them
_NO_GENERATOR_INSIDE = (str, bytes, int, float, complex, bool, type(None), np.ndarray, np.generic, Tensor, type,
                        types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def _has_state(value):
    return callable(getattr(value, "state_dict", None)) and callable(getattr(value, "load_state_dict", None))


def find_generators(objects):
    """[(path, generator)] of every ``numpy.random.Generator`` reachable from ``objects`` ({name: object}).

    Depth first through attributes (``vars``), list and tuple items and
    dict values, in their order, so the same objects built the same way give
    the same paths in any process. A generator reached by two paths is
    listed under both; any other object is looked inside once.
    """
    found, looked_inside = [], set()

    def search(value, path, depth):
        if isinstance(value, np.random.Generator):
            found.append((path, value))
            return
        if isinstance(value, _NO_GENERATOR_INSIDE) or id(value) in looked_inside or depth > DEEPEST:
            return
        looked_inside.add(id(value))
        if isinstance(value, dict):
            # keys that print the same in every process name the entry; other keys, its position
            items = [(f"{path}[{key!r}]" if isinstance(key, (str, int)) else f"{path}[{position}]", item)
                     for position, (key, item) in enumerate(value.items())]
        elif isinstance(value, (list, tuple)):
            items = [(f"{path}[{position}]", item) for position, item in enumerate(value)]
        else:
            attributes = getattr(value, "__dict__", None)
            if not isinstance(attributes, dict):
                return
            items = [(f"{path}.{name}", item) for name, item in attributes.items()]
        for item_path, item in items:
            if not isinstance(item, _NO_GENERATOR_INSIDE):  # most items of a long list of numbers stop here
                search(item, item_path, depth + 1)

    for name, value in objects.items():
        search(value, name, 0)
    return found


def training_state(**objects):
    """One dict with everything a run needs to resume bit for bit, for ``tinycnn.save``.

    objects: keywords of your choice. An object with ``state_dict()`` (a
    model, optimizer, scheduler, DataLoader, Compose) is stored as its state
    dict; a ``numpy.random.Generator`` as its state; anything else (an
    epoch, a list of losses) as it is, and must be what ``tinycnn.save``
    stores. Returns {keyword: state dict or value, ..., "random": the state
    of every generator (see the module's docstring)}.
    """
    if RANDOM in objects:
        raise ValueError(f"training_state: {RANDOM!r} is the key of the generators' states; give your value "
                         f"another name")
    state, restorable = {}, []
    for name, value in objects.items():
        if _has_state(value):
            state[name] = value.state_dict()
        if _has_state(value) or isinstance(value, np.random.Generator):
            restorable.append(name)
        else:
            state[name] = value
    state[RANDOM] = {
        "objects": restorable,
        "tinycnn": get_rng_state(),
        "generators": {path: generator.bit_generator.state
                       for path, generator in find_generators({name: objects[name] for name in restorable})},
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    return state


def load_training_state(state, **objects):
    """Put the objects and every generator back as ``state`` (from ``training_state``) holds them; returns ``state``.

    objects: the keywords ``training_state`` was given for objects (not
    for plain values such as the epoch, which you read from ``state``), with
    the objects built as the saved run built them. Each gets its
    ``load_state_dict``; each generator found in them, tinycnn's default
    generator, NumPy's global one and Python's ``random`` get their states,
    in place.
    """
    saved = state.get(RANDOM) if isinstance(state, dict) else None
    if not isinstance(saved, dict) or "objects" not in saved:
        source = f"{state.source}: " if getattr(state, "source", None) else ""
        raise ValueError(f"load_training_state: {source}not a training state (it has no {RANDOM!r} entry); give "
                         f"what tinycnn.load read of a file written as tinycnn.save(tinycnn.training_state(...), "
                         f"path)")
    names = list(saved["objects"])
    missing = [name for name in names if name not in objects]
    values = [name for name in objects if name not in names and name in state]
    others = [name for name in objects if name not in names and name not in state]
    _refuse([
        missing and f"the state holds {', '.join(missing)}, not given here (a resume needs each of them back: pass "
                    f"{', '.join(f'{name}=...' for name in missing)})",
        values and f"{', '.join(values)} {'is a value' if len(values) == 1 else 'are values'} the state holds, not "
                   f"objects to restore: read {', '.join(map(repr, values))} from the state",
        others and f"the state has nothing for {', '.join(others)}; it holds {', '.join(names)}"])
    for name in names:
        value = objects[name]
        if name in state:
            if not _has_state(value):
                raise TypeError(f"load_training_state: {name} was saved from an object with a state_dict(); got a "
                                f"{type(value).__name__}")
            value.load_state_dict(state[name])
        elif not isinstance(value, np.random.Generator):
            raise TypeError(f"load_training_state: {name} was saved as a numpy.random.Generator; got a "
                            f"{type(value).__name__}")
    _restore_generators(saved["generators"], find_generators({name: objects[name] for name in names}))
    np.random.set_state(saved["numpy"])
    random.setstate(saved["python"])
    set_rng_state(saved["tinycnn"])  # last: a path above may lead to the default generator too
    return state


def _restore_generators(saved, found):
    """Set each generator of ``found`` [(path, generator)] to its state in ``saved`` {path: state}."""
    here = dict(found)
    only_saved = [path for path in saved if path not in here]
    only_here = [path for path in here if path not in saved]
    _refuse([only_saved and f"the saved run drew from generators at {', '.join(only_saved)}, which the objects given "
                            f"do not have",
             only_here and f"the objects given have generators at {', '.join(only_here)}, which the saved run did "
                           f"not"],
            ". Build the model, loader and transforms as the saved run did (the same generator= arguments), or the "
            "resumed run would draw other numbers")
    for path, generator in found:
        try:
            generator.bit_generator.state = dict(saved[path])
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"load_training_state: the saved state of {path} does not fit its "
                             f"{type(generator.bit_generator).__name__} generator ({error})") from None



def _refuse(problems, advice=""):
    """A ValueError listing the ``problems`` that are not empty, then ``advice``; nothing if all are empty."""
    problems = [problem for problem in problems if problem]
    if problems:
        raise ValueError("load_training_state: " + "; ".join(problems) + advice)
