"""tinycnn: a small convolutional-network engine in NumPy and Numba, written to be read.

    import tinycnn
    import tinycnn.functional as F
    from tinycnn import nn, optim

Reading order: tensor.py (autograd), kernels/ (the arithmetic: each op's
naive pair, then its fast one; the conv's speed machinery in kernels/fast/),
backend.py (which of the two pairs the ops run), functional.py (ops that
glue kernels and autograd) and fusion.py (how conv, ReLU and pool become one
kernel), nn.py (layers), optim/ (updates), data/, train.py.

Importing tinycnn changes nothing in the process (allocator, threads,
environment); ``tinycnn.memory.keep_freed_memory()`` is an explicit call for
training programs that want it. It registers one listener of Numba's compile
events, so that the first compile of a kernel says so on stderr
(``tinycnn.compile``, which says how to switch that off).
"""

from importlib.metadata import PackageNotFoundError as _NotInstalled, version as _installed_version

from numpy import float32, float64, int64
# torch.float, torch.long, ... (and max, min): attributes only, not in __all__, so that `from tinycnn import *`
# leaves Python's float, int, bool, max and min alone
from numpy import bool_ as bool, float32 as float, float64 as double, int32 as int, int64 as long  # noqa: A004

from tinycnn import backend, functional, fusion, nn, optim
from tinycnn import metrics
from tinycnn.device import cuda, device
from tinycnn.functions import (allclose, arange, argmax, equal, exp, flatten, get_num_threads, is_tensor, log,
                               logsumexp, max, min, set_num_threads)
from tinycnn.random import Generator, get_rng_state, manual_seed, set_rng_state
from tinycnn.resume import load_training_state, training_state
from tinycnn.serialization import CheckpointError, load, save
from tinycnn.torch_weights import load_torch_state_dict
# ``tinycnn.tensor`` is the function, as ``torch.tensor`` is; the module tinycnn/tensor.py is still imported by name,
# ``from tinycnn.tensor import Context``, but ``tinycnn.tensor.Context`` would look inside the function.
from tinycnn.tensor import (Function, Tensor, cat, enable_grad, from_numpy, inference_mode, is_grad_enabled, no_grad,
                            ones, randn, set_grad_enabled, stack, tensor, zeros)

try:
    __version__ = _installed_version("tinycnn")  # the package's metadata, written from pyproject.toml at install
except _NotInstalled:  # run from a clone that was never installed
    __version__ = "unknown"

__all__ = ["CheckpointError", "Function", "Generator", "Tensor", "argmax", "backend", "cat", "cuda", "device",
           "enable_grad", "flatten", "float32", "float64", "allclose", "arange", "equal", "exp", "log", "logsumexp",
           "get_num_threads", "is_tensor", "set_num_threads",
           "from_numpy", "functional", "fusion", "get_rng_state", "inference_mode", "int64", "is_grad_enabled",
           "load", "load_torch_state_dict", "load_training_state", "manual_seed", "metrics", "nn", "no_grad", "ones",
           "optim", "randn", "save", "set_grad_enabled", "set_rng_state", "stack", "tensor", "training_state",
           "zeros"]
