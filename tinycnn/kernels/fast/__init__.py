"""The speed machinery of the convolution: an optimisation of the plain pair, to read after it.

Everything here computes what ``kernels/conv2d_im2col.py`` computes (im2col,
then one matrix product per image), and, with fusion, what ``relu.py`` and
``maxpool2d.py`` compute after it; the tests hold every kernel here to the
reference pairs. Read ``kernels/conv2d.py`` (the definition),
``kernels/im2col.py`` and ``kernels/conv2d_im2col.py`` first; then these, in
this order, each a change to the plain pair:

    conv2d.py          the engine's conv pair, what ``F.conv2d`` runs by default:
                       - the batch split into runs of images, one per thread, each run a kernel of its own
                         (``conv2d_forward_part``, ``conv2d_backward_part``);
                       - per-thread buffers reused for every image, BLAS writing into them in place;
                       - with fusion (tinycnn/fusion.py), the bias, ReLU and max-pool applied as each image's
                         product is read: the full-size conv output is never stored, and only the rows and
                         columns the pool reads are convolved;
                       - the backward's gradient through the pool and ReLU from a one-byte winner place per
                         window (docs/kernels.md derives it)
    conv2d_pool.py     the pools of that forward: a 2x2 pool unrolled, a small pooled plane pooled for all
                       filters at once, any other pool plane by plane
    conv2d_windows.py  a first layer's forward with im2col's columns in the 2x2 pool's window order
    im2col_windows.py  that copy
    threads.py         how the parts run on Numba's threads (a prange loop given each part kernel as a
                       function pointer), how an error inside a part reaches the caller, BLAS held at one
                       thread meanwhile
    blas.py            ``gemm``: BLAS's product written into a given array, or added to it
    buffers.py         ``np.empty`` and friends, compiled once and cached

docs/performance.md has what each of these measured, and
``experiments/kernel_effects.py`` takes them away one at a time.
"""
