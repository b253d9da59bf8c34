"""Numba kernels: one file per operation, each a forward/backward pair.

Every op's file holds the kernels the engine runs and, beside them,
``_naive`` twins written as plain loops straight from the definition,
sharing no code with the fast ones. The naive ones are there to be read
first and to serve as test oracles; the others are fast enough to train
with. (``nll.py`` is one plain loop, its own definition; ``im2col.py``,
``conv2d_pool.py``, ``blas.py``, ``buffers.py`` and ``threads.py`` are
helpers of the conv kernels; ``jit.py`` is how every kernel is compiled
and cached.) What runs when:

    F.conv2d, and the F.relu / F.max_pool2d that follow it    conv2d.py     (im2col.py, blas.py, conv2d_pool.py inside)
      when fusion joins them (the default; tinycnn/fusion.py)
      but the forward when the pool is 2x2, stride 2, and    conv2d_windows.py
      F >= C*KH*KW (as on the study's first layer)
    F.relu on anything else                                  relu.py
    F.max_pool2d on anything else                            maxpool2d.py
    F.linear                                                 linear.py
    F.log_softmax, and inside F.cross_entropy                log_softmax.py
    F.nll_loss, and inside F.cross_entropy                   nll.py
    F.batch_norm (nn.BatchNorm2d)                            batchnorm2d.py
    F.dropout, F.dropout2d (nn.Dropout, nn.Dropout2d)        dropout.py
    F.avg_pool2d, F.adaptive_avg_pool2d                      avgpool2d.py

Kernels are plain functions of NumPy arrays and numbers: no Tensor objects,
no autograd. The forward/backward kernels return new arrays and never
modify their inputs (in particular never ``dout``); the helpers inside
them (``im2col``, ``gemm``, the per-plane and per-row loops, and the conv
kernels' ``_part`` kernels, each one thread's run of images) write into the
buffers they are handed, named ``out``, ``cols``, ``c`` and the like. The
conv forward and backward are Python functions that allocate their outputs
and run their ``_part`` kernels on Numba's threads (``threads.py``); the
other forward/backward kernels are Numba's.

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
    PH, PW  output height, width of the max-pool inside a conv kernel
            (``pool_kernel`` by ``pool_kernel`` windows, ``pool_stride`` apart)
    RH, RW  the part of a conv's OH x OW output that such a pool reads:
            RH = (PH - 1) * pool_stride + pool_kernel (RH, RW = OH, OW without a pool)
    D       input features of a linear     M       output features of a linear
    K       classes (log-softmax, NLL)     L       length of a flattened array

``d``-prefixed names are gradients of the loss: ``dout`` for the output,
``dx`` for the input, ``dweight`` for the weight. ``argmax`` is a max-pool's
winner as a flat index ih*W + iw into its plane; ``winner`` is the conv
kernel's pool winner as a place kh*pool_kernel + kw in its window.
"""
