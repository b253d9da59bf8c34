"""Checkpoints without pickle: ``tinycnn.save(obj, path)`` and ``tinycnn.load(path)``.

``obj`` is a state dict (``model.state_dict()``, ``optimizer.state_dict()``,
``scheduler.state_dict()``) or a dict of them and of plain values (an epoch
number, a generator's ``bit_generator.state``). It is stored as one ``.npz``
file: every array under its own name, and a JSON *manifest* that records the
structure around them (dicts, lists, tuples, numbers, strings, booleans,
None, and which array goes where). Loading uses ``allow_pickle=False``, so a
file can only ever give back arrays and those plain values: opening a
checkpoint cannot run code, unlike ``torch.load`` of a pickle.

The file is written atomically (``tinycnn/files.py``). A file that is
truncated, is not a ``.npz``, was not written by ``tinycnn.save``, or holds
pickled objects raises ``CheckpointError`` naming the file and what is
wrong. The dicts ``load`` returns remember their file (``.source``), so
``load_state_dict`` errors name it too.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from tinycnn.files import atomic_write
from tinycnn.tensor import Tensor

FORMAT = "tinycnn checkpoint 1"
MANIFEST = "__manifest__"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or a value that cannot be stored."""


class StateDict(dict):
    """A dict read from a checkpoint; ``source`` is the file it came from."""

    source = None


def _encode(value, arrays, where):
    """The manifest node of ``value``, putting its arrays in ``arrays``; ``where`` names it in errors."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.hasobject:
            raise CheckpointError(f"save: {where} is an array of Python objects, which a checkpoint cannot hold")
        name = f"array{len(arrays)}"
        arrays[name] = np.asarray(value)
        return {"array": name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise CheckpointError(f"save: {where} has the key {key!r}; keys must be strings or ints")
        return {"dict": [[key, _encode(item, arrays, f"{where}.{key}")] for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode(item, arrays, f"{where}[{i}]") for i, item in enumerate(value)]}
    if callable(getattr(value, "state_dict", None)):  # a whole model or optimizer, as torch.save(model, path) takes
        raise CheckpointError(f"save: {where} is a {type(value).__name__} object, which tinycnn does not pickle; save "
                              f"its state_dict() (tinycnn.save(model.state_dict(), path), as PyTorch recommends) and "
                              "load it into a model you build")
    raise CheckpointError(f"save: {where} has type {type(value).__name__}; a checkpoint holds arrays, numbers, "
                          "strings, booleans, None, and dicts, lists and tuples of them")


def _decode(node, arrays, source):
    if not isinstance(node, dict):
        return node
    if "array" in node:
        return arrays[node["array"]]
    if "dict" in node:
        result = StateDict((key, _decode(item, arrays, source)) for key, item in node["dict"])
        result.source = source
        return result
    if "list" in node:
        return [_decode(item, arrays, source) for item in node["list"]]
    return tuple(_decode(item, arrays, source) for item in node["tuple"])


def save(obj, path):
    """Write ``obj`` (a state dict, or a dict of them and plain values) to ``path`` as a .npz, atomically."""
    arrays = {}
    manifest = {"format": FORMAT, "root": _encode(obj, arrays, "the checkpoint")}
    with atomic_write(path, "wb") as stream:
        np.savez(stream, **arrays, **{MANIFEST: np.array(json.dumps(manifest))})


ZIP_MAGIC, NPY_MAGIC, PICKLE_PROTOCOL_BYTE = b"PK\x03\x04", b"\x93NUMPY", b"\x80"


def _check_kind(path):
    """Refuse, by its first bytes, a file that is not a .npz at all (np.load would take it for a pickle)."""
    try:
        with open(path, "rb") as stream:
            start = stream.read(6)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({error.strerror})") from None
    if start.startswith(ZIP_MAGIC) or start.startswith(NPY_MAGIC):
        return
    if not start:
        raise CheckpointError(f"{path}: an empty file, not a checkpoint")
    if start.startswith(PICKLE_PROTOCOL_BYTE):
        raise CheckpointError(f"{path}: holds pickled Python objects, which tinycnn does not load "
                              "(allow_pickle=False); it was not written by tinycnn.save")
    raise CheckpointError(f"{path}: not a .npz file (it starts with the bytes {start!r}); tinycnn.save writes "
                          ".npz checkpoints")


def load(path, map_location=None, weights_only=None, **pickle_options):
    """Read a checkpoint written by ``save``; raises CheckpointError (naming the file) if it cannot.

    ``map_location`` and ``weights_only`` are PyTorch's arguments, accepted so that ``torch.load(path,
    map_location=device)`` runs as written: a CPU device is the only one (any other is refused), and a
    checkpoint never holds code to run, whatever ``weights_only`` says. A file PyTorch wrote is read with
    ``tinycnn.load_torch_state_dict`` instead, which this says if it is given one.
    """
    if map_location is not None and not callable(map_location) and not isinstance(map_location, dict):
        from tinycnn.device import device

        device(map_location)  # refuses anything but the CPU, saying why
    if pickle_options:
        raise TypeError(f"load: unexpected keyword argument {sorted(pickle_options)[0]!r} (tinycnn's checkpoints "
                        "are not pickles)")
    path = Path(path)
    _check_kind(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise CheckpointError(f"{path}: a single .npy array, not a tinycnn checkpoint")
            if any(name.endswith("data.pkl") for name in data.files):  # PyTorch's files are zips too
                raise CheckpointError(f"{path}: a file written by torch.save, not by tinycnn.save; read a PyTorch "
                                      "state_dict with tinycnn.load_torch_state_dict(path) (without PyTorch, and "
                                      "without running the file), then model.load_state_dict(...)")
            if MANIFEST not in data.files:
                raise CheckpointError(f"{path}: not a tinycnn checkpoint (a .npz without tinycnn's manifest; it "
                                      f"holds {', '.join(data.files[:5]) or 'nothing'})")
            manifest = json.loads(str(data[MANIFEST]))
            arrays = {name: data[name] for name in data.files if name != MANIFEST}
    except CheckpointError:
        raise
    except ValueError as error:
        if "pickle" in str(error):
            raise CheckpointError(f"{path}: holds pickled Python objects, which tinycnn does not load "
                                  "(allow_pickle=False); it was not written by tinycnn.save") from None
        raise CheckpointError(f"{path}: cannot be read as a .npz ({error}); the file is damaged or not a "
                              "checkpoint") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as error:
        raise CheckpointError(f"{path}: cannot be read as a .npz ({type(error).__name__}: {error}); the file is "
                              "truncated or not a checkpoint") from None
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path}: written in format {manifest.get('format')!r}; this tinycnn reads {FORMAT!r}")
    return _decode(manifest["root"], arrays, str(path))
