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
training programs that want it.
"""

from tinycnn import backend, functional, fusion, nn, optim
from tinycnn.random import manual_seed
from tinycnn.serialization import CheckpointError, load, save
from tinycnn.tensor import (Function, Tensor, enable_grad, inference_mode, is_grad_enabled, no_grad,
                            set_grad_enabled)

__all__ = ["CheckpointError", "Function", "Tensor", "backend", "enable_grad", "functional", "fusion", "inference_mode",
           "is_grad_enabled", "load", "manual_seed", "nn", "no_grad", "optim", "save", "set_grad_enabled"]
