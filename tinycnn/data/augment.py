"""The study's image transforms over a whole batch: Numba kernels, and the Python functions that run them.

The study's training transform (torchvision on PIL 8-bit images), in order:

1. with probability 0.1, centre-crop to 22x22;
2. resize to 28x28, bilinear (PIL's filter: the identity on an uncropped image);
3. rotate by an angle drawn uniformly from [-15, 15] degrees about the image
   centre, nearest neighbour, corners filled with 0;
4. scale to [0, 1] and normalise with mean 0.1307 and std 0.3081.

``Augment(translate=t)`` adds a shift to step 3 (ours, not the study's):
after the rotation the image moves by a whole number of pixels drawn from
[-t * width, t * width] (and likewise down), as torchvision's
``RandomAffine(translate=(t, t))`` draws it and PIL's
``rotate(angle, translate=(dx, dy))`` applies it.

Steps 1-3 work on 0-255 integers as PIL does, so the result of each step is
a whole pixel value. Random draws (which images are cropped, the angles) are
made in Python from a seeded ``numpy.random.Generator`` and handed to the
kernel, which is deterministic.
"""

import math

import numpy as np
import numba

from tinycnn.kernels.jit import njit
from tinycnn.kernels.fast.threads import run_in_parts
from tinycnn.random import default_generator

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


@njit
def _bilinear_weights(in_size, out_size):
    """PIL's bilinear resampling weights along one axis.

    Output pixel i covers input coordinate center = (i + 0.5) * in_size / out_size;
    the triangle filter weights the input pixels j whose centres j + 0.5 lie
    within 1 (times the scale when shrinking) of it, normalised to sum to 1.
    Returns first (out_size,) int64 and weights (out_size, taps) float64:
    output i = sum_t weights[i, t] * input[first[i] + t].
    """
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = filter_scale  # the triangle filter has support 1, stretched when shrinking
    taps = int(math.ceil(support)) * 2 + 1
    first = np.zeros(out_size, dtype=np.int64)
    weights = np.zeros((out_size, taps), dtype=np.float64)
    for i in range(out_size):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        total = 0.0
        for j in range(lo, hi):
            distance = abs((j - center + 0.5) / filter_scale)
            w = 1.0 - distance if distance < 1.0 else 0.0
            weights[i, j - lo] = w
            total += w
        if total != 0.0:
            for t in range(hi - lo):
                weights[i, t] /= total
        first[i] = lo
    return first, weights


PRECISION_BITS = 22  # PIL resamples 8-bit images in fixed point with 22 fractional bits


@njit
def _fixed_point(weights):
    """Weights as PIL's integers: round(w * 2**22), so our sums round exactly as PIL's do."""
    scale = 1 << PRECISION_BITS
    out = np.empty(weights.shape, dtype=np.int64)
    for i in range(weights.shape[0]):
        for t in range(weights.shape[1]):
            w = weights[i, t]
            out[i, t] = int(w * scale + 0.5) if w >= 0 else int(w * scale - 0.5)
    return out


@njit
def _resample_rows(image, out_w):
    """One PIL resampling pass along the last axis: (H, W) -> (H, out_w) int64 of values 0..255.

    Each output is the fixed-point weighted sum of its input pixels plus one
    half, shifted back down and clipped to 0..255: PIL's rounding exactly.
    """
    H, W = image.shape
    first, weights = _bilinear_weights(W, out_w)
    fixed = _fixed_point(weights)
    half = 1 << (PRECISION_BITS - 1)
    out = np.empty((H, out_w), dtype=np.int64)
    for y in range(H):
        for x in range(out_w):
            total = half
            for t in range(fixed.shape[1]):
                j = first[x] + t
                if j < W:
                    total += fixed[x, t] * np.int64(image[y, j])
            out[y, x] = min(max(total >> PRECISION_BITS, 0), 255)
    return out


@njit
def resize_bilinear(image, out_h, out_w):
    """Resize one 8-bit image the way PIL does: a horizontal pass, then a vertical one.

    image: (H, W) whole values 0..255 (any dtype)
    returns (out_h, out_w) float64 of whole values 0..255; each pass rounds to
    a whole value in PIL's fixed-point arithmetic, so the result is PIL's.
    """
    horizontal = _resample_rows(image.astype(np.int64), out_w)  # (H, out_w); int64 in both passes: one compile
    vertical = _resample_rows(np.ascontiguousarray(horizontal.T), out_h)  # (out_w, out_h)
    return vertical.T.astype(np.float64)


@njit
def _fix16(value):
    """``value`` in 16.16 fixed point, rounded as PIL's FIX macro does."""
    return np.int64(math.floor(value * 65536.0 + 0.5))


@njit
def rotate_nearest(image, degrees, shift_x=0.0, shift_y=0.0):
    """Rotate one image counter-clockwise by ``degrees`` about its centre, then shift it, as PIL's Image.rotate.

    image: (H, W); returns (H, W) of the same dtype.
    Output pixel (x, y) samples the input at its centre (x + 0.5, y + 0.5)
    moved back by (shift_x, shift_y) and turned back by the angle about
    (W/2, H/2); nearest neighbour takes the pixel that contains that point;
    points outside the input give 0 (the study's fill). PIL does this in
    16.16 fixed point, and so do we, so the results are PIL's
    (``rotate(degrees, NEAREST, translate=(shift_x, shift_y), fillcolor=0)``)
    to the pixel.
    """
    H, W = image.shape
    theta = -math.radians(degrees)  # PIL's matrix maps output to input, hence the minus
    cos_t = round(math.cos(theta), 15)  # PIL rounds too, so a quarter turn is exact
    sin_t = round(math.sin(theta), 15)
    cx = W / 2.0
    cy = H / 2.0
    # input = A @ (x, y) + offset, with A = [[cos, sin], [-sin, cos]], turning about (cx, cy)
    offset_x = cx - cos_t * (cx + shift_x) - sin_t * (cy + shift_y)
    offset_y = cy + sin_t * (cx + shift_x) - cos_t * (cy + shift_y)
    step_xx, step_xy = _fix16(cos_t), _fix16(sin_t)  # change of input x per output x, per output y
    step_yx, step_yy = _fix16(-sin_t), _fix16(cos_t)
    start_x = _fix16(offset_x + 0.5 * cos_t + 0.5 * sin_t)  # the centre of output pixel (0, 0)
    start_y = _fix16(offset_y - 0.5 * sin_t + 0.5 * cos_t)
    out = np.zeros_like(image)
    for y in range(H):
        for x in range(W):
            src_x = (start_x + y * step_xy + x * step_xx) >> 16  # floor of the fixed-point coordinate
            src_y = (start_y + y * step_yy + x * step_yx) >> 16
            if 0 <= src_x < W and 0 <= src_y < H:
                out[y, x] = image[src_y, src_x]
    return out


def augment_batch(images, crop, angles, shifts, crop_size, mean, std, out):
    """Apply the training transform to a batch, a run of images on each thread (``augment_part``).

    images: (N, H, W) uint8, C-contiguous
    crop:   (N,) bool, True where the image is centre-cropped to crop_size and resized back
    angles: (N,) float64 rotation in degrees
    shifts: (N, 2) float64 shift in pixels (x, y) after the rotation (zeros for the study's transform)
    out:    (N, 1, H, W) float32 or float64, written in place: (pixel / 255 - mean) / std
    """
    if not std > 0 or not 0 < crop_size <= min(images.shape[1:]):  # inside the kernel they would fail unseen
        raise ValueError(f"augmentation needs std > 0 and a crop of 1 to {min(images.shape[1:])} pixels; got std "
                         f"{std}, crop_size {crop_size}")
    run_in_parts(augment_part, images.shape[0], numba.get_num_threads(), images, crop, angles, shifts, crop_size, mean,
                 std, out)


@njit
def augment_part(images, crop, angles, shifts, crop_size, mean, std, out, part, n_parts):
    """``augment_batch`` of part ``part`` of ``n_parts`` of the batch: images part * N // n_parts up to
    (part + 1) * N // n_parts (each image is transformed alone, so the parts are independent).

    images: (N, H, W) uint8; crop: (N,) bool; angles: (N,) float64; shifts: (N, 2) float64
    out:    (N, 1, H, W), this part's images written in place
    """
    N, H, W = images.shape
    top = int(round((H - crop_size) / 2.0))  # torchvision's centre-crop offsets
    left = int(round((W - crop_size) / 2.0))
    for n in range(part * N // n_parts, (part + 1) * N // n_parts):
        if crop[n]:
            cropped = images[n, top:top + crop_size, left:left + crop_size]
            picture = resize_bilinear(cropped, H, W)
        else:
            picture = images[n].astype(np.float64)
        rotated = rotate_nearest(picture, angles[n], shifts[n, 0], shifts[n, 1])
        for y in range(H):
            for x in range(W):
                out[n, 0, y, x] = (rotated[y, x] / 255.0 - mean) / std
    return True  # this part finished (threads.run_in_parts checks)


@njit
def normalize_batch(images, mean, std, out):
    """images: (N, H, W) uint8 -> out (N, 1, H, W), written in place: (pixel / 255 - mean) / std.

    One thread: too little work for a second to pay for what a parallel
    kernel costs Numba to compile (docs/performance.md).
    """
    N, H, W = images.shape
    for n in range(N):
        for y in range(H):
            for x in range(W):
                out[n, 0, y, x] = (images[n, y, x] / 255.0 - mean) / std


class Normalize:
    """The evaluation transform: uint8 (N, H, W) -> normalised float (N, 1, H, W)."""

    def __init__(self, mean=MNIST_MEAN, std=MNIST_STD, dtype=np.float32):
        self.mean, self.std, self.dtype = mean, std, dtype

    def __call__(self, images):
        out = np.empty((images.shape[0], 1) + images.shape[1:], dtype=self.dtype)
        normalize_batch(np.ascontiguousarray(images), self.mean, self.std, out)
        return out


class Augment:
    """The study's training transform; ``generator`` supplies every random draw.

    uint8 (N, H, W) -> normalised float (N, 1, H, W).
    """

    def __init__(self, crop_size=22, crop_probability=0.1, degrees=15.0, mean=MNIST_MEAN, std=MNIST_STD,
                 generator=None, dtype=np.float32, translate=0.0):
        self.crop_size, self.crop_probability, self.degrees = crop_size, crop_probability, degrees
        self.translate = translate
        self.mean, self.std, self.dtype = mean, std, dtype
        self.generator = default_generator() if generator is None else generator

    def __call__(self, images):
        n = images.shape[0]
        crop = self.generator.random(n) < self.crop_probability
        angles = self.generator.uniform(-self.degrees, self.degrees, size=n)
        shifts = np.zeros((n, 2))
        if self.translate:  # drawn only when asked, so the study's transform draws what it always drew
            largest = np.array([self.translate * images.shape[2], self.translate * images.shape[1]])
            shifts = np.round(self.generator.uniform(-largest, largest, size=(n, 2)))
        out = np.empty((n, 1) + images.shape[1:], dtype=self.dtype)
        augment_batch(np.ascontiguousarray(images), crop, angles, shifts, self.crop_size, self.mean, self.std, out)
        return out
