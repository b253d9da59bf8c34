"""Negative log-likelihood loss, averaged over the batch (PyTorch's default 'mean').

``F.nll_loss`` (and so ``F.cross_entropy``) runs ``nll_forward`` / ``nll_backward`` here.

    loss = -(1/N) * sum_n logp[n, target[n]]

Targets are class indices, checked to lie in [0, K) before the kernel runs.
There is no fast variant, and so no ``_naive`` twin: the work is N additions,
and the one plain loop below is the definition.
"""

import numpy as np

from tinycnn.kernels.jit import njit


@njit
def nll_forward(logp, target):
    """logp: (N, K), target: (N,) int64 -> loss: () 0-d array of logp's dtype."""
    N = logp.shape[0]
    total = 0.0
    for n in range(N):
        total -= logp[n, target[n]]
    loss = np.empty((), dtype=logp.dtype)
    loss[()] = total / N
    return loss


@njit
def nll_backward(dloss, logp, target):
    """dloss: () scalar gradient; logp: (N, K), target: (N,) -> dlogp: (N, K).

    forward: loss = -(1/N) * sum_n logp[n, target[n]]
      => dlogp[n, k] = -dloss / N where k == target[n], 0 elsewhere
    """
    N = logp.shape[0]
    dlogp = np.zeros_like(logp)
    for n in range(N):
        dlogp[n, target[n]] = -dloss / N
    return dlogp
