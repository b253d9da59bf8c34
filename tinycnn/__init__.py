"""tinycnn: a small convolutional-network engine in NumPy and Numba, written to be read.

    import tinycnn
    import tinycnn.functional as F
    from tinycnn import nn, optim

Reading order: tensor.py (autograd), kernels/ (the arithmetic), functional.py
(ops that glue the two), nn.py (layers), optim/ (updates), data/, train.py.
"""

from tinycnn import functional, nn, optim
from tinycnn.memory import keep_freed_memory
from tinycnn.random import manual_seed
from tinycnn.tensor import Function, Tensor, is_grad_enabled, no_grad

keep_freed_memory()  # see tinycnn/memory.py: page faults cost more than the arithmetic here

__all__ = ["Function", "Tensor", "functional", "is_grad_enabled", "manual_seed", "nn", "no_grad", "optim"]
