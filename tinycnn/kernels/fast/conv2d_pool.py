"""The pool inside the conv forward: bias, max-pool and ReLU applied to one image's conv product in one read.

``conv2d.py``'s forward computes each image's product, conv (F, RH*RW), one
plane of RH x RW per filter, and hands it to one of these, by the pool:

- ``bias_pool_relu``: one plane, the definition; inlined into
  ``bias_pool_relu_2x2`` and ``bias_pool_relu_any``
  (``bias_pool_relu_across_filters`` takes its steps for all filters at
  once);
- ``bias_pool_relu_2x2``: a 2x2 pool of stride 2, its window a constant the
  compiler unrolls;
- ``bias_pool_relu_across_filters``: any other pool of a small product (at
  least 8 filters, at most 8,192 values, such as the study's 3x3 pool of a
  9x9 plane), for all the image's filters at once;
- ``bias_pool_relu_any``: any other pool, plane by plane, its window size a
  number known only when it runs.

Each pooled value is the largest of its window, plus the bias, then ReLU'd;
``winner_place`` keeps where in the window it was, for the backward. The rules
are ``maxpool2d.py``'s and ``relu.py``'s: the first maximum in row-major
window order wins, NaN wins, and NaN passes through the ReLU.

They live apart from ``conv2d.py`` because Numba compiles again every
kernel of a file that changed: an edit to the conv kernels then leaves
these compiled. An edit to this file recompiles these and the conv
forward that calls them (``jit.py``).
"""

from tinycnn.kernels.jit import njit


@njit(inline="always")
def bias_pool_relu(plane, bias, kernel, stride, relu, out, winner_place):
    """Add ``bias`` to one (RH, RW) conv plane, max-pool it into out (PH, PW), then ReLU if ``relu``.

    winner_place (PH, PW) int8 gets the place of each window's maximum in its
    window, kh*kernel + kw: a number below kernel**2 that fits in a byte,
    where ``maxpool2d.py`` keeps a flat index into the plane. Same rule
    (first maximum in row-major window order wins; NaN wins). The bias is
    added to each value as it is read, exactly as a separate pass would have
    added it, without that pass. The loop body has no branches (a select,
    not an if), so the compiler can run it over several windows at once,
    and inlined with a constant kernel it unrolls the window.
    """
    PH, PW = out.shape
    for ph in range(PH):
        for pw in range(PW):
            best = plane[ph * stride, pw * stride] + bias
            best_place = 0
            for kh in range(kernel):
                for kw in range(kernel):
                    value = plane[ph * stride + kh, pw * stride + kw] + bias
                    take = (value > best) | (value != value)
                    best = value if take else best
                    best_place = kh * kernel + kw if take else best_place
            if relu:
                best = 0.0 if best <= 0 else best  # written so that NaN passes through, as in relu.py
            out[ph, pw] = best
            winner_place[ph, pw] = best_place


# What the conv forward calls: each a function of its own, called once per plane or image (inlined into the
# conv kernel they cost Numba more to compile).


@njit
def bias_pool_relu_2x2(plane, bias, relu, out, winner_place):
    bias_pool_relu(plane, bias, kernel=2, stride=2, relu=relu, out=out, winner_place=winner_place)


@njit
def bias_pool_relu_any(plane, bias, kernel, stride, relu, out, winner_place):
    bias_pool_relu(plane, bias, kernel=kernel, stride=stride, relu=relu, out=out, winner_place=winner_place)


@njit
def bias_pool_relu_across_filters(conv, bias, kernel, stride, RW, relu, out, winner_place, conv_t, best, best_place):
    """``bias_pool_relu`` for all of one image's planes at once: window by window, the filters innermost.

    conv:   (F, RH*RW), one image's product, plane f in row f
    bias:   (F,)
    out:    (F, PH, PW), winner_place (F, PH, PW) int8: written as ``bias_pool_relu`` writes them
    conv_t: (RH*RW, F), best (F,), best_place (F,) int8: scratch

    A small pooled plane, such as the study's 3x3 pool of a 9x9 product,
    has rows of a few windows: too few for the compiler to compare several
    windows at once, so plane by plane each window is a chain of scalar
    steps, each waiting for the one before. Here the product is first
    transposed, so that the values of one place for all F filters lie side
    by side, and every comparison ``bias_pool_relu`` makes runs for F
    filters at a time, in the same order for each filter: the same maxima
    and winners, ties and NaN included.
    """
    F, positions = conv.shape
    _, PH, PW = out.shape
    for f in range(F):
        for p in range(positions):
            conv_t[p, f] = conv[f, p]
    for ph in range(PH):
        for pw in range(PW):
            corner = ph * stride * RW + pw * stride  # the window's first place in the flattened plane
            for f in range(F):
                best[f] = conv_t[corner, f] + bias[f]
                best_place[f] = 0
            for kh in range(kernel):
                for kw in range(kernel):
                    values = conv_t[corner + kh * RW + kw]
                    for f in range(F):
                        value = values[f] + bias[f]
                        take = (value > best[f]) | (value != value)  # as in bias_pool_relu: a select, not an if
                        best[f] = value if take else best[f]
                        best_place[f] = kh * kernel + kw if take else best_place[f]
            for f in range(F):
                value = best[f]
                if relu:
                    value = 0.0 if value <= 0 else value  # NaN passes through, as in relu.py
                out[f, ph, pw] = value
                winner_place[f, ph, pw] = best_place[f]
