"""Image transforms with torchvision's names (``torchvision.transforms``), composed with ``Compose``.

Two kinds of image go through them, as in torchvision, where a PIL image
becomes a tensor at ``ToTensor``:

- a *picture*: a NumPy uint8 array (H, W) or (H, W, C), values 0..255,
  which stands where torchvision has a PIL image (the data sets give their
  images so). ``CenterCrop``, ``Resize``, ``RandomRotation`` and the flips
  take pictures and give pictures, to the pixel as PIL computes them
  (tests/test_augment.py checks the kernels against PIL).
- a *tensor image*: a tinycnn Tensor (..., C, H, W), float after
  ``ToTensor``. ``Normalize`` takes these (and float NumPy arrays), as
  torchvision's does; the flips and ``CenterCrop`` do too.

Each transform is a callable on one item. Those that can also run on a
whole batch (the same images stacked: pictures (N, H, W) or (N, H, W, C),
tensor images (N, C, H, W)) have a ``batch`` method, and ``Compose.batch``
runs the batch form where its parts have one and the item form image by
image where not; the loader's fast path uses it (tinycnn/data/datasets.py).
Each transform's docstring says which forms it has.

Random transforms draw from ``generator`` (a ``numpy.random.Generator``;
tinycnn's default generator if None), one draw (or one set) per image in
order, and save its state with ``state_dict()`` / ``load_state_dict()``
(tinycnn/data/generators.py). The batch form draws the same numbers as the
item form image by image, so the two give the same bits when each random
transform has a generator of its own; random transforms that share one
take their draws from it in another order batch by batch than item by item.

``StudyAugment`` is the study's whole training transform in one batch
kernel (tinycnn/data/augment.py): the composition of ``RandomApply([
CenterCrop(22)], p=0.1)``, ``Resize(28)``, ``RandomRotation(15)``,
``ToTensor()`` and ``Normalize((0.1307,), (0.3081,))``, with the study's
draws, one pass per image.

Not here: ``Normalize`` of tinycnn.data (augment.py) is the study's
evaluation transform, ToTensor and Normalize in one, which takes a 3-D
array as a batch (N, H, W); ``transforms.Normalize`` takes it as one image
(C, H, W), as torchvision does.
"""

import numbers

import numpy as np

from tinycnn.data import augment
from tinycnn.data.generators import check_generator, generator_state, set_generator_state
from tinycnn.random import default_generator
from tinycnn.tensor import Tensor


class Compose:
    """Apply ``transforms`` in order, as torchvision's ``Compose``. Item and batch forms."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for position, transform in enumerate(self.transforms):
            if not callable(transform) or isinstance(transform, type):  # a class is callable, but makes a transform
                raise TypeError(f"Compose: transform {position} is a {type(transform).__name__}, not a callable; "
                                f"give transforms such as ToTensor() (note the brackets)")

    def __call__(self, image):
        for transform in self.transforms:
            image = transform(image)
        return image

    def batch(self, images):
        """Each transform's batch form in turn, or its item form on each image of the batch where it has none."""
        for transform in self.transforms:
            images = apply_to_batch(transform, images)
        return images

    def state_dict(self):
        """{position: that transform's state} for the transforms with one (the random ones)."""
        return {str(i): t.state_dict() for i, t in enumerate(self.transforms) if hasattr(t, "state_dict")}

    def load_state_dict(self, state):
        for i, transform in enumerate(self.transforms):
            if hasattr(transform, "load_state_dict"):
                if str(i) not in state:
                    raise ValueError(f"Compose.load_state_dict: no state for transform {i} "
                                     f"({type(transform).__name__}); was it saved from the same Compose?")
                transform.load_state_dict(state[str(i)])

    def __repr__(self):
        return "Compose(" + "".join(f"\n    {transform!r}," for transform in self.transforms) + "\n)"


def apply_to_batch(transform, images):
    """``transform.batch(images)``, or ``transform`` on each image of ``images`` and the results stacked."""
    if hasattr(transform, "batch"):
        return transform.batch(images)
    results = [transform(image) for image in images]
    if all(isinstance(result, Tensor) for result in results):
        return Tensor(np.stack([result.data for result in results]))
    return np.stack(results)


class RandomTransform:
    """The generator of a random transform: which one it draws from, and its state in a checkpoint."""

    def __init__(self, generator):
        self.generator = check_generator(type(self).__name__, generator)

    def _generator(self):
        return default_generator() if self.generator is None else self.generator

    def state_dict(self):
        """{"generator": the generator's state, or None where it draws from tinycnn's default generator}."""
        return {"generator": generator_state(self.generator)}

    def load_state_dict(self, state):
        set_generator_state(type(self).__name__, self.generator, state["generator"])


def _unwrap(image, owner):
    """(the array of ``image``, whether it was a Tensor); a TypeError naming ``owner`` if it is neither."""
    if isinstance(image, Tensor):
        return image.data, True
    if isinstance(image, np.ndarray):
        return image, False
    raise TypeError(f"{owner}: takes a picture (a NumPy uint8 array (H, W) or (H, W, C)) or a Tensor image (..., C, "
                    f"H, W), got {type(image).__name__}")


def _picture(image, owner, batch=False):
    """``image`` checked to be a uint8 picture, (H, W) or (H, W, C) (with a leading N if ``batch``)."""
    dims = (3, 4) if batch else (2, 3)
    if isinstance(image, Tensor) or not isinstance(image, np.ndarray) or image.dtype != np.uint8 \
            or image.ndim not in dims:
        kind = f"Tensor {image.shape}" if isinstance(image, Tensor) else (
            f"{image.dtype} array {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__)
        shapes = "(N, H, W) or (N, H, W, C)" if batch else "(H, W) or (H, W, C)"
        raise TypeError(f"{owner}: takes a picture, a NumPy uint8 array {shapes} of values 0..255 (where "
                        f"torchvision takes a PIL image), got a {kind}; apply it before "
                        f"ToTensor()")
    return image


def _size_pair(owner, size):
    """``size`` (one number, or (h, w)) as a pair of ints >= 1."""
    pair = (size, size) if isinstance(size, numbers.Integral) else tuple(size) if isinstance(size, (tuple, list)) \
        else None
    if pair is None or len(pair) != 2 or not all(isinstance(s, numbers.Integral) and s >= 1 for s in pair):
        raise ValueError(f"{owner}: size must be a whole number >= 1 or a pair (height, width) of them, got {size!r}")
    return tuple(int(s) for s in pair)


class ToTensor:
    """A picture (H, W) or (H, W, C) -> a Tensor (C, H, W), as torchvision's ``ToTensor``. Item and batch forms.

    uint8 values 0..255 become float32 in [0, 1] (divided by 255 in
    float32, as torchvision); other dtypes keep their values and dtype,
    as torchvision leaves them. Batch form: (N, H, W) or (N, H, W, C) ->
    (N, C, H, W).
    """

    def __call__(self, picture):
        return self._convert(picture, batch=False)

    def batch(self, pictures):
        return self._convert(pictures, batch=True)

    @staticmethod
    def _convert(picture, batch):
        if not isinstance(picture, np.ndarray) or picture.ndim not in ((3, 4) if batch else (2, 3)):
            shape = f" of shape {picture.shape}" if hasattr(picture, "shape") else ""
            shapes = "(N, H, W) or (N, H, W, C)" if batch else "(H, W) or (H, W, C)"
            raise TypeError(f"ToTensor: takes a NumPy picture {shapes}, got a {type(picture).__name__}{shape}")
        channels_first = picture[..., None, :, :] if picture.ndim == (3 if batch else 2) else \
            np.moveaxis(picture, -1, -3)
        if picture.dtype == np.uint8:
            return Tensor(channels_first.astype(np.float32) / np.float32(255))
        return Tensor(np.ascontiguousarray(channels_first))

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """(x - mean[c]) / std[c] on each channel c of a float image (..., C, H, W), as torchvision's ``Normalize``.

    mean, std: a number or one per channel, e.g. (0.2860,), (0.3530,). A
    Tensor gives a Tensor, a float array an array, of the input's dtype,
    computed in it as torchvision computes (tinycnn.data.Normalize's float
    path, tinycnn/data/augment.py). uint8 pictures are refused: apply
    ``ToTensor()`` first, as torchvision asks. Any leading dimensions, so
    the batch form is the same call.
    """

    def __init__(self, mean, std, inplace=False):
        self.mean, self.std = mean, std
        self._normalize = augment.Normalize(mean, std)  # checks mean and std, and does the arithmetic

    def __call__(self, image):
        data, as_tensor = _unwrap(image, "Normalize")
        if data.dtype.kind != "f":
            raise TypeError(f"Normalize: takes a float image (..., C, H, W), got {data.dtype}; apply ToTensor() first "
                            f"(it scales uint8 pictures to [0, 1])")
        if data.ndim < 3:
            raise ValueError(f"Normalize: takes an image (..., C, H, W) of at least 3 dimensions, got shape "
                             f"{data.shape}; a picture of one channel is (1, H, W) after ToTensor()")
        out = self._normalize(data.reshape((-1,) + data.shape[-3:])).reshape(data.shape)
        return Tensor(out) if as_tensor else out

    batch = __call__

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


class _RandomFlip(RandomTransform):
    """Mirror an image along one axis with probability ``p``: one draw per image, in order.

    ``tensor_axis``: the axis in a Tensor image (..., C, H, W), counted
    from the end; ``picture_axis``: the axis in a picture (H, W[, C]).
    """

    tensor_axis = picture_axis = None

    def __init__(self, p=0.5, generator=None):
        super().__init__(generator)
        self.p = p

    def __call__(self, image):
        data, as_tensor = _unwrap(image, type(self).__name__)
        axis = self.tensor_axis if as_tensor else self.picture_axis
        out = np.flip(data, axis).copy() if self._generator().random() < self.p else data
        return Tensor(out) if as_tensor else out

    def batch(self, images):
        """images: a batch (N, ...) of pictures or Tensor images; flips those whose draw is below ``p``."""
        data, as_tensor = _unwrap(images, type(self).__name__)
        axis = self.tensor_axis if as_tensor else self.picture_axis + 1  # the batch's first axis is N
        chosen = self._generator().random(len(data)) < self.p  # the draws of len(data) calls, one per image
        out = data.copy()
        out[chosen] = np.flip(data[chosen], axis)
        return Tensor(out) if as_tensor else out

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p})"


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left to right with probability ``p``, as torchvision's. Item and batch forms (one draw per image).

    A picture (H, W) or (H, W, C), or a Tensor image (..., H, W); batches (N, ...) of them.
    """

    tensor_axis, picture_axis = -1, 1


class RandomVerticalFlip(_RandomFlip):
    """Mirror top to bottom with probability ``p``, as torchvision's. Item and batch forms (one draw per image).

    A picture (H, W) or (H, W, C), or a Tensor image (..., H, W); batches (N, ...) of them.
    """

    tensor_axis, picture_axis = -2, 0


class CenterCrop:
    """The central (h, w) of an image, as torchvision's ``CenterCrop``. Item and batch forms.

    size: a number or (h, w), at most the image's size. The crop starts
    at row round((H - h) / 2) and column round((W - w) / 2), torchvision's
    offsets. A picture (H, W) or (H, W, C), or a Tensor image (..., H, W);
    batches (N, ...) of them.
    """

    def __init__(self, size):
        self.size = _size_pair("CenterCrop", size)

    def __call__(self, image):
        return self._crop(image, batch=False)

    def batch(self, images):
        return self._crop(images, batch=True)

    def _crop(self, image, batch):
        data, as_tensor = _unwrap(image, "CenterCrop")
        row_axis = data.ndim - 2 if as_tensor else (1 if batch else 0)
        height, width = data.shape[row_axis], data.shape[row_axis + 1]
        h, w = self.size
        if h > height or w > width:
            raise ValueError(f"CenterCrop: the crop {h}x{w} is larger than the image {height}x{width} (shape "
                             f"{data.shape}); torchvision would pad, tinycnn does not: give at most the image's size")
        top, left = int(round((height - h) / 2.0)), int(round((width - w) / 2.0))
        index = [slice(None)] * data.ndim
        index[row_axis], index[row_axis + 1] = slice(top, top + h), slice(left, left + w)
        out = np.ascontiguousarray(data[tuple(index)])
        return Tensor(out) if as_tensor else out

    def __repr__(self):
        return f"CenterCrop(size={self.size})"


def _kernel_picture(channel):
    """A (H, W) channel as the kernels were compiled for: C-contiguous and writable (Numba compiles again else)."""
    return channel if channel.flags.c_contiguous and channel.flags.writeable else np.array(channel)


def _per_channel(picture, apply):
    """``apply`` on each (H, W) channel of a picture (H, W) or (H, W, C); the results as one picture."""
    if picture.ndim == 2:
        return apply(_kernel_picture(picture))
    return np.stack([apply(_kernel_picture(picture[:, :, c])) for c in range(picture.shape[2])], axis=2)


class Resize:
    """Resize a picture, bilinear, as torchvision's ``Resize`` on a PIL image: PIL's fixed-point arithmetic, to
    the pixel. Item form only (image by image in a batch).

    size: (h, w), or one number: the shorter side becomes ``size`` and the
    longer keeps the aspect ratio (int(size * long / short)), as
    torchvision. A picture (H, W) or (H, W, C) uint8 -> (h, w[, C]) uint8.
    Tensor images are refused: apply Resize before ToTensor().
    """

    def __init__(self, size, interpolation="bilinear"):
        if isinstance(size, numbers.Integral) and size >= 1:
            self.size = int(size)
        else:
            self.size = _size_pair("Resize", size)
        if str(interpolation).lower().rsplit(".", 1)[-1] != "bilinear":
            raise ValueError(f"Resize: only bilinear interpolation is implemented (PIL's), got {interpolation!r}")

    def __call__(self, picture):
        picture = _picture(picture, "Resize")
        height, width = picture.shape[:2]
        if isinstance(self.size, tuple):
            out_h, out_w = self.size
        elif height <= width:
            out_h, out_w = self.size, int(self.size * width / height)
        else:
            out_h, out_w = int(self.size * height / width), self.size
        return _per_channel(picture, lambda channel: augment.resize_bilinear(channel, out_h, out_w).astype(np.uint8))

    def __repr__(self):
        return f"Resize(size={self.size}, interpolation=bilinear)"


class RandomRotation(RandomTransform):
    """Rotate a picture counter-clockwise by an angle drawn uniformly from ``degrees``, as torchvision's
    ``RandomRotation`` on a PIL image: nearest neighbour about the centre, 0 outside, to the pixel. Item form
    only (image by image in a batch).

    degrees: d for [-d, d], or (low, high). A picture (H, W) or (H, W, C)
    uint8 -> the same shape. Tensor images are refused: apply it before
    ToTensor(). ``expand``, ``center`` and a ``fill`` other than 0 are
    not implemented and refused.
    """

    def __init__(self, degrees, interpolation="nearest", expand=False, center=None, fill=0, generator=None):
        super().__init__(generator)
        if isinstance(degrees, numbers.Real):
            if degrees < 0:
                raise ValueError(f"RandomRotation: degrees must be >= 0 when one number, got {degrees}")
            degrees = (-degrees, degrees)
        if len(degrees) != 2 or degrees[0] > degrees[1]:
            raise ValueError(f"RandomRotation: degrees must be a number d or a pair (low, high), got {degrees!r}")
        self.degrees = (float(degrees[0]), float(degrees[1]))
        if str(interpolation).lower().rsplit(".", 1)[-1] != "nearest":
            raise ValueError(f"RandomRotation: only nearest interpolation is implemented (PIL's), got "
                             f"{interpolation!r}")
        if expand or center is not None or fill not in (0, None) and np.any(np.asarray(fill) != 0):
            raise ValueError("RandomRotation: expand, center and a fill other than 0 are not implemented; rotate "
                             "about the centre, keeping the size, with 0 outside")

    def __call__(self, picture):
        picture = _picture(picture, "RandomRotation")
        angle = self._generator().uniform(*self.degrees)
        return _per_channel(picture, lambda channel: augment.rotate_nearest(channel, angle))

    def __repr__(self):
        return f"RandomRotation(degrees={self.degrees})"


class RandomApply(RandomTransform):
    """Apply ``transforms`` in order with probability ``p``, else nothing, as torchvision's ``RandomApply``.
    Item form only (image by image in a batch).

    One draw from ``generator`` per image; the transforms draw from their own.
    """

    def __init__(self, transforms, p=0.5, generator=None):
        super().__init__(generator)
        self.transforms, self.p = Compose(transforms), p

    def __call__(self, image):
        return self.transforms(image) if self._generator().random() < self.p else image

    def state_dict(self):
        return {"generator": generator_state(self.generator), "transforms": self.transforms.state_dict()}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.transforms.load_state_dict(state["transforms"])

    def __repr__(self):
        return f"RandomApply(p={self.p}, transforms={self.transforms!r})"


class StudyAugment(RandomTransform):
    """The study's training transform in one kernel (tinycnn/data/augment.py's ``Augment``). Item and batch forms.

    A picture (H, W) uint8 -> Tensor (1, H, W); batch (N, H, W) -> Tensor
    (N, 1, H, W), float32 (``dtype``). With probability ``crop_probability``
    the centre ``crop_size`` square is cut and resized back, then the image
    is rotated by an angle drawn from [-degrees, degrees] (and shifted by
    up to ``translate`` of its size), then scaled and normalised with
    ``mean`` and ``std``. The batch form draws as the study's pipeline did,
    all the crop draws of the batch, then all the angles, so it gives the
    study's bits; the item form draws an image's crop, then its angle.
    """

    def __init__(self, crop_size=22, crop_probability=0.1, degrees=15.0, mean=augment.MNIST_MEAN,
                 std=augment.MNIST_STD, generator=None, dtype=np.float32, translate=0.0):
        super().__init__(generator)
        # its generator is set at each call (_run): this one's, or the default generator of the moment
        self._augment = augment.Augment(crop_size, crop_probability, degrees, mean, std, generator=None, dtype=dtype,
                                        translate=translate)

    def __call__(self, picture):
        return Tensor(self._run(_picture(picture, "StudyAugment")[None])[0].data)

    def batch(self, pictures):
        return self._run(_picture(pictures, "StudyAugment", batch=True))

    def _run(self, pictures):
        if pictures.ndim != 3:
            raise TypeError(f"StudyAugment: takes pictures of one channel, (H, W) or a batch (N, H, W), got shape "
                            f"{pictures.shape[1:]} per image")
        self._augment.generator = self._generator()  # the default generator is looked up at each call
        return Tensor(self._augment(pictures))

    def __repr__(self):
        a = self._augment
        return (f"StudyAugment(crop_size={a.crop_size}, crop_probability={a.crop_probability}, degrees={a.degrees}, "
                f"mean={a.mean}, std={a.std}, translate={a.translate})")
