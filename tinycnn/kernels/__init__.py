"""Numba kernels: one file per operation, each a forward/backward pair.

Every file holds the kernel the engine runs and, beside it, a ``_naive``
twin written as plain loops straight from the definition. The naive one is
there to be read first and to serve as a test oracle; the other is the one
that is fast enough to train with.

Kernels are plain functions of NumPy arrays and ints: no Tensor objects, no
autograd. They return new arrays and never modify their inputs (in particular
never ``dout``). They are generic over float32 and float64: Numba compiles one
version per dtype on first use and caches it on disk (``cache=True``).
Set ``NUMBA_DISABLE_JIT=1`` to run every kernel as ordinary Python, e.g. to
step through one in a debugger.

Shape legend, used in every docstring:

    N   batch size                    C   input channels
    F   output channels (filters)     H, W    input height, width
    KH, KW  kernel height, width      OH, OW  output height, width
    D   input features of a linear    M   output features of a linear
    K   classes (log-softmax, NLL)    L   length of a flattened array

``d``-prefixed names are gradients of the loss: ``dout`` for the output,
``dx`` for the input, ``dweight`` for the weight.
"""
