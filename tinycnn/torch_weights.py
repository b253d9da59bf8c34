"""PyTorch weights into tinycnn, without PyTorch: ``load_torch_state_dict(path)``.

    state = tinycnn.load_torch_state_dict("model.pt")   # saved by torch.save(model.state_dict(), "model.pt")
    model.load_state_dict(state)                         # a tinycnn model with the same layer names

What ``torch.save`` writes (its default since PyTorch 1.6) is a zip file:

    NAME/data.pkl     a pickle of the dict, in which every tensor is a call
                      _rebuild_tensor_v2(storage, offset, size, stride, ...)
                      and every storage a reference ('storage', FloatStorage,
                      key, location, numel) to the file below
    NAME/data/KEY     the storage's raw bytes, little-endian (NAME/byteorder says)

A pickle is a program: ``torch.load`` without ``weights_only`` runs whatever
functions the file names. Here the pickle is read by an ``Unpickler`` that
knows only the names a state_dict needs (``collections.OrderedDict``, the
two rebuild functions, the storage types) and gives for each its own
stand-in, never the real object: a tensor becomes a NumPy array cut from its
storage's bytes, and any other name (``os.system``, a model class saved with
``torch.save(model)``) stops the load before anything is called.

Returned: the same structure with each tensor as an ndarray of its dtype and
shape, each dict as a ``StateDict`` that remembers its file (so that
``load_state_dict`` errors name it). bfloat16 becomes float32 (exactly:
NumPy has no bfloat16); complex, quantized and sparse tensors are refused.
"""

import pickle
import zipfile
from pathlib import Path

import numpy as np

from tinycnn.serialization import CheckpointError, StateDict

# torch's storage types, as their pickles name them, and the NumPy dtype of their bytes (little-endian)
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}
REFUSED = ("this file would need to run code to load; tinycnn loads only plain state_dicts (tensors in dicts, "
           "as torch.save(model.state_dict(), path) writes)")


class TorchFileError(CheckpointError):
    """A file that is not a plain PyTorch state_dict, or one that is damaged."""


class _StorageType:
    """The stand-in for ``torch.FloatStorage`` and its kin: the name only (a fresh one per mention)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


def _bfloat16_to_float32(bits):
    """bfloat16 values (as uint16 bit patterns) as float32: they are float32's upper 16 bits, so this is exact."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


class _StateDictUnpickler(pickle.Unpickler):
    """Reads ``data.pkl`` of a torch.save zip, giving NumPy arrays for tensors and refusing every other global.

    The stand-ins are made per load (closures, fresh objects), so that a hostile pickle that sets attributes on
    what it is given (BUILD) changes nothing outside this one load.
    """

    def __init__(self, stream, archive, prefix, path):
        super().__init__(stream)
        self.archive, self.prefix, self.path = archive, prefix, path
        self.storages = {}  # key -> 1-D array of the storage's elements

        def ordered_dict(*args):
            return StateDict(*args)

        def rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
            return self.tensor(storage, offset, size, stride)

        def rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
            return data

        self.allowed = {("collections", "OrderedDict"): ordered_dict,
                        ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
                        ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
                        ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter}

    def find_class(self, module, name):
        if (module, name) in self.allowed:
            return self.allowed[module, name]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        hint = (" (it holds a whole model or a custom object: save model.state_dict() instead)"
                if module not in ("builtins", "os", "posix", "subprocess", "sys") else "")
        raise TorchFileError(f"{self.path}: {REFUSED}; it names {module}.{name}{hint}")

    def persistent_load(self, pid):
        """('storage', storage type, key, location, numel) -> the storage's elements as a 1-D array."""
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise TorchFileError(f"{self.path}: an unexpected storage reference {pid!r}; {REFUSED}")
        _, storage_type, key, _location, numel = pid  # the location (cpu, cuda:0) does not matter for the bytes
        if key not in self.storages:
            dtype = np.dtype(STORAGE_DTYPES[storage_type.name])
            try:
                raw = self.archive.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise TorchFileError(f"{self.path}: storage {key} is missing from the zip; the file is damaged") \
                    from None
            if len(raw) != numel * dtype.itemsize:
                raise TorchFileError(f"{self.path}: storage {key} holds {len(raw)} bytes, not {numel} "
                                     f"{storage_type.name} elements; the file is damaged")
            elements = np.frombuffer(raw, dtype=dtype)
            if storage_type.name == "BFloat16Storage":
                elements = _bfloat16_to_float32(elements)
            self.storages[key] = elements
        return self.storages[key]

    def tensor(self, storage, offset, size, stride):
        """The tensor over ``storage`` (1-D) from element ``offset``, of shape ``size`` and element strides
        ``stride``, as a new ndarray; every element it reads is checked to lie inside the storage."""
        if not isinstance(storage, np.ndarray) or not all(isinstance(v, int) and v >= 0 for v in
                                                          (offset, *size, *stride)) or len(size) != len(stride):
            raise TorchFileError(f"{self.path}: a tensor with storage offset {offset!r}, size {size!r} and stride "
                                 f"{stride!r} is not one tinycnn can read (negative or odd values)")
        if 0 in size:
            return np.zeros(size, dtype=storage.dtype)
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= len(storage):
            raise TorchFileError(f"{self.path}: a tensor of size {tuple(size)} and stride {tuple(stride)} from "
                                 f"offset {offset} reads past its storage of {len(storage)} elements; the file is "
                                 "damaged")
        view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                               strides=tuple(s * storage.itemsize for s in stride), writeable=False)
        return view.astype(view.dtype.newbyteorder("="), copy=True)  # native order, and its own memory


def _with_source(value, source):
    """``value`` with every dict in it a StateDict naming ``source`` (dicts made by EMPTY_DICT are plain)."""
    if isinstance(value, dict):
        result = StateDict((key, _with_source(item, source)) for key, item in value.items())
        result.source = source
        return result
    if isinstance(value, (list, tuple)):
        return type(value)(_with_source(item, source) for item in value)
    return value


def _data_pickle(archive, path):
    """The name of the one ``NAME/data.pkl`` in a torch.save zip."""
    names = [name for name in archive.namelist() if name.endswith("data.pkl") and name.count("/") == 1]
    if len(names) != 1:
        raise TorchFileError(f"{path}: a zip file, but not one torch.save wrote (it has no NAME/data.pkl); a "
                             "tinycnn checkpoint (.npz) is read with tinycnn.load")
    return names[0]


def is_torch_file(path):
    """Whether ``path`` is a zip holding a NAME/data.pkl, as torch.save writes (False for a .npz or no zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("data.pkl") and name.count("/") == 1 for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def load_torch_state_dict(path):
    """Read a file written by ``torch.save(state_dict, path)`` without PyTorch: tensors become ndarrays.

    Raises ``TorchFileError`` (a ``CheckpointError``), naming the file, for
    a file that is missing, damaged, in torch's legacy format, or that names
    anything but tensors in dicts (it would need to run code to load).
    """
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            start = stream.read(4)
    except OSError as error:
        raise TorchFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    if not start.startswith(b"PK\x03\x04"):
        legacy = start.startswith(b"\x80") or start == b""
        raise TorchFileError(f"{path}: not a zip file, so not what torch.save writes by default" + (
            " (it is torch's legacy format, _use_new_zipfile_serialization=False, or a bare pickle): re-save it "
            "with PyTorch's default, torch.save(torch.load(path, weights_only=True), new_path)" if legacy else ""))
    try:
        with zipfile.ZipFile(path) as archive:
            data_pickle = _data_pickle(archive, path)
            prefix = data_pickle[: -len("data.pkl")]
            order = archive.read(f"{prefix}byteorder").decode() if f"{prefix}byteorder" in archive.namelist() \
                else "little"
            if order != "little":
                raise TorchFileError(f"{path}: written on a {order}-endian machine; tinycnn reads little-endian "
                                     "files only")
            with archive.open(data_pickle) as stream:
                state = _StateDictUnpickler(stream, archive, prefix, path).load()
    except TorchFileError:
        raise
    except Exception as error:  # a damaged zip or pickle: any exception the reading raised, named
        raise TorchFileError(f"{path}: cannot be read as a torch.save file ({type(error).__name__}: {error}); the "
                             "file is damaged or not a state_dict") from None
    return _with_source(state, str(path))
