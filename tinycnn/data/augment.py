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
from tinycnn.tensor import Tensor

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
    """The evaluation transform, torchvision's ``ToTensor()`` then ``Normalize(mean, std)`` on a batch.

    ``mean`` and ``std`` are numbers or sequences of one value per channel
    (or one for all channels), as torchvision takes them; a std of 0 is
    refused, as torchvision refuses it. Images are an array (or a Tensor,
    which gives a Tensor back) of shape

    - (N, H, W): pictures of one channel, such as MNIST's -> (N, 1, H, W);
    - (N, C, H, W) -> (N, C, H, W); channel c gives (x - mean[c]) / std[c].

    A 3-D input is always a batch here, not one (C, H, W) image as for
    torchvision's Normalize: tinycnn's transforms work on batches.

    What is scaled follows ToTensor: uint8 pictures (0..255) are divided by
    255 first, and float images are taken as already scaled (ToTensor leaves
    a float array as it is), so they are only normalised. Other dtypes are
    refused, as torchvision's Normalize refuses a tensor that is not float.

    The arithmetic: uint8 pictures are computed in float64 and rounded once
    to ``dtype`` (float32 if None), as the study's pipeline always has been;
    torchvision computes in float32, rounding at each step, so its values
    can differ from these in the last bit. Float images are computed in their
    own dtype, as torchvision does, to the bit; the result has that dtype,
    or ``dtype`` if given.
    """

    def __init__(self, mean=MNIST_MEAN, std=MNIST_STD, dtype=None):
        self.mean, self.std, self.dtype = mean, std, dtype
        self._mean, self._std = _per_channel("mean", mean), _per_channel("std", std)
        if np.any(self._std == 0):
            raise ValueError(f"Normalize: std {std!r} has a 0, and each value is divided by its channel's std; give "
                             "std > 0 for every channel")

    def __call__(self, images):
        as_tensor = isinstance(images, Tensor)
        images = np.asarray(images.data if as_tensor else images)
        if images.dtype != np.uint8 and images.dtype.kind != "f":
            raise TypeError(f"Normalize: images must be uint8 pictures (0..255, divided by 255 first) or float images "
                            f"already scaled, got {images.dtype}; convert them with .astype(np.uint8) if they are "
                            f"0..255 pixel values, or to float32 if they are scaled")
        if images.ndim not in (3, 4):
            raise ValueError(f"Normalize: images must be (N, H, W) pictures of one channel or (N, C, H, W), got shape "
                             f"{images.shape}")
        batch = images[:, None] if images.ndim == 3 else images
        channels = batch.shape[1]
        for name, values in (("mean", self._mean), ("std", self._std)):
            if values.size not in (1, channels):
                raise ValueError(f"Normalize: {name} has {values.size} values for images of {channels} channel(s) "
                                 f"(shape {images.shape}); give one per channel, or one for all")
        out = self._pictures(batch) if images.dtype == np.uint8 else self._scaled(batch)
        return Tensor(out) if as_tensor else out

    def _pictures(self, batch):
        """uint8 (N, C, H, W) -> (pixel / 255 - mean) / std in float64, rounded once to the output dtype."""
        out = np.empty(batch.shape, dtype=np.float32 if self.dtype is None else self.dtype)
        if batch.shape[1] == 1:  # the study's case: one kernel pass, no float64 temporaries
            normalize_batch(np.ascontiguousarray(batch[:, 0]), float(self._mean[0]), float(self._std[0]), out)
        else:  # the kernel's arithmetic, in NumPy: the same float64 operations, the same one rounding
            out[...] = (batch / 255.0 - self._mean.reshape(-1, 1, 1)) / self._std.reshape(-1, 1, 1)
        return out

    def _scaled(self, batch):
        """Float (N, C, H, W) -> (x - mean) / std in the input's dtype, as torchvision's Normalize computes it."""
        mean, std = (values.astype(batch.dtype).reshape(-1, 1, 1) for values in (self._mean, self._std))
        out = (batch - mean) / std
        return out if self.dtype is None else out.astype(self.dtype, copy=False)


def _per_channel(name, value, op="Normalize"):
    """Normalize's ``mean`` or ``std`` (a number, or a sequence of one per channel) as a 1-D float64 array."""
    try:
        values = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim > 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"{op}: {name} must be a finite number or a sequence of them, one per channel (e.g. "
                         f"(0.5,) or (0.485, 0.456, 0.406)), got {value!r}")
    return values.reshape(-1)


def _one_channel_value(name, value):
    """Augment's ``mean`` or ``std``: a number or a one-element sequence, torchvision's ``(0.1307,)``, as a float."""
    values = _per_channel(name, value, op="Augment")
    if values.size != 1:
        raise ValueError(f"Augment: the study's augmentation takes one-channel images, so {name} is one number "
                         f"(or a one-element sequence such as (0.1307,)), got {value!r}")
    if name == "std" and values[0] <= 0:
        raise ValueError(f"Augment: needs std > 0, got {value!r}")
    return float(values[0])


class Augment:
    """The study's training transform; ``generator`` supplies every random draw.

    uint8 (N, H, W) -> normalised float (N, 1, H, W).
    """

    def __init__(self, crop_size=22, crop_probability=0.1, degrees=15.0, mean=MNIST_MEAN, std=MNIST_STD,
                 generator=None, dtype=np.float32, translate=0.0):
        self.crop_size, self.crop_probability, self.degrees = crop_size, crop_probability, degrees
        self.translate = translate
        self.mean, self.std = (_one_channel_value(name, value) for name, value in (("mean", mean), ("std", std)))
        self.dtype = dtype
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
