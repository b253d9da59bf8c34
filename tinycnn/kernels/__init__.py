"""Numba kernels: one file per operation, each a forward/backward pair beside its ``_naive`` twin.

Every op's file holds a ``_naive`` pair, plain loops written straight from
the definition, and a fast pair with the same arguments and results, which
the engine runs by default. ``tinycnn/backend.py`` chooses between them for
every op at once: ``TINYCNN_KERNELS=reference`` trains on the naive pairs.
The tests hold every fast kernel to its naive twin. (``nll.py`` is one
plain loop, its own definition, in both sets.)

The convolution has more than one file, read in this order:

    conv2d.py          the reference pair: the definition, and the backward as docs/kernels.md derives it
    im2col.py          one image's receptive fields copied into columns, and the adjoint copy back
    conv2d_im2col.py   the plain im2col + GEMM pair: one matrix product per image
    fast/              the speed machinery: the engine's conv pair, an optimisation of the plain one, with
                       ReLU and max-pool fused into it (fast/__init__.py lists what it changes)

What runs when (fast set, the default / reference set):

    F.conv2d, and the F.relu / F.max_pool2d     fast/conv2d.py (fusion joins them: tinycnn/fusion.py); the
      that follow it                            forward of a first layer with a 2x2 pool (the study's conv1):
                                                fast/conv2d_windows.py
                                                / conv2d.py, relu.py, maxpool2d.py, each its own call
    F.relu on anything else                     relu.py
    F.max_pool2d on anything else               maxpool2d.py
    F.linear                                    linear.py
    F.log_softmax, and inside F.cross_entropy   log_softmax.py
    F.nll_loss, and inside F.cross_entropy      nll.py
    F.batch_norm (nn.BatchNorm2d)               batchnorm2d.py (with a following F.relu fused, in the fast set)
    F.dropout, F.dropout2d                      dropout.py
    F.avg_pool2d, F.adaptive_avg_pool2d         avgpool2d.py
    optim.Adam's step (not amsgrad)             adam.py, one pass per parameter / the NumPy lines of
                                                optim/adam.py, which it matches bit for bit

Kernels are plain functions of NumPy arrays and numbers: no Tensor objects,
no autograd. The forward/backward kernels return new arrays and never
modify their inputs (in particular never ``dout``); the helpers inside
them (``im2col``, ``gemm``, the per-plane and per-row loops, the fast conv's
``_part`` kernels) write into the buffers they are handed, named ``out``,
``cols``, ``c`` and the like. A few fast forward/backward functions are
Python wrappers (the conv's, the linear's) that choose a kernel, split the
batch over threads or hold BLAS at one thread, then call Numba's kernels.

All are generic over float32 and float64: Numba compiles one version per
dtype on first use and keeps it on disk for the next run (``jit.py``'s
``njit``, which every kernel here is made with). Editing a kernel's file,
or the file of a helper whose code is compiled into it (``im2col.py`` into
the conv kernels, say), makes exactly the kernels built from that file
compile again on their next use. Set ``NUMBA_DISABLE_JIT=1`` to run every
kernel as ordinary Python, e.g. to step through one in a debugger (``gemm``
is then NumPy's ``@``: BLAS's C function can be called only from compiled
code).

Shape legend, used in every docstring:

    N       batch size                     C       input channels
    F       output channels (filters)      H, W    input height, width
    KH, KW  window height, width: a conv's kernel, or a max-pool's window
    SH, SW  a max-pool's stride along the height, width
    OH, OW  output height, width of a conv or of a max-pool
    PH, PW  output height, width of the max-pool fused into a fast conv
            (``pool_kernel`` by ``pool_kernel`` windows, ``pool_stride`` apart)
    RH, RW  the part of a conv's OH x OW output that such a pool reads:
            RH = (PH - 1) * pool_stride + pool_kernel (RH, RW = OH, OW without a pool)
    D       input features of a linear     M       output features of a linear
    K       classes (log-softmax, NLL)     L       length of a flattened array

``d``-prefixed names are gradients of the loss: ``dout`` for the output,
``dx`` for the input, ``dweight`` for the weight. A max-pool's forward
keeps which input won each window, for its backward, in one of two
encodings: ``winner_index``, the flat index ih*W + iw into the input plane
(``maxpool2d.py``), or ``winner_place``, the place kh*pool_kernel + kw in the
window, one byte (the fast conv's fused pool).
"""
