"""The study's augmentation and the batch loader: semantics, seeding, and PIL as the oracle."""

import numpy as np
import pytest
from PIL import Image

from tinycnn import Tensor
from tinycnn.data import MNIST_MEAN, MNIST_STD, Augment, BatchLoader, Normalize
from tinycnn.data.augment import normalize_batch, resize_bilinear, rotate_nearest


def images(count=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)


def test_normalize_scales_to_unit_range_then_standardises():
    out = Normalize()(np.array([[[0, 255]]], dtype=np.uint8))
    assert out.shape == (1, 1, 1, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [(0 - MNIST_MEAN) / MNIST_STD, (1 - MNIST_MEAN) / MNIST_STD], rtol=1e-6)


def test_normalize_of_the_studys_pictures_is_the_kernels_to_the_bit():
    batch = images(100)
    out = np.empty((100, 1, 28, 28), dtype=np.float32)
    normalize_batch(batch, MNIST_MEAN, MNIST_STD, out)
    np.testing.assert_array_equal(Normalize()(batch), out)
    np.testing.assert_array_equal(Normalize((MNIST_MEAN,), [MNIST_STD])(batch[:, None]), out)  # (N, 1, H, W) too


def test_normalize_does_not_scale_float_images_again():
    """The issue's case: float images already in [0, 1] were divided by 255 again (mean -0.81, std 0.003)."""
    scaled = images(50).astype(np.float32) / 255
    out = Normalize((0.5,), (0.5,))(scaled)
    assert out.shape == (50, 1, 28, 28) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], (scaled - 0.5) / 0.5, rtol=1e-6)
    assert out.min() >= -1 and out.max() <= 1 and out.std() > 0.5
    pictures = Normalize((0.5,), (0.5,))(images(50))  # the same pictures as uint8: divided by 255 first
    np.testing.assert_allclose(pictures, out, rtol=1e-6, atol=1e-6)


def test_normalize_takes_channels_with_a_value_each_or_one_for_all():
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (4, 3, 5, 6), dtype=np.uint8)
    out = Normalize((0.1, 0.2, 0.3), (0.5, 0.25, 2.0))(batch)
    assert out.shape == (4, 3, 5, 6) and out.dtype == np.float32
    for c, (mean, std) in enumerate(zip((0.1, 0.2, 0.3), (0.5, 0.25, 2.0))):
        np.testing.assert_array_equal(out[:, c], Normalize(mean, std)(batch[:, c])[:, 0])  # NumPy path = kernel
    np.testing.assert_array_equal(Normalize(0.2, 0.5)(batch), Normalize((0.2,) * 3, (0.5,) * 3)(batch))
    as_tensor = Normalize(0.2, 0.5)(Tensor(batch))
    assert isinstance(as_tensor, Tensor) and np.array_equal(as_tensor.data, Normalize(0.2, 0.5)(batch))
    floats = rng.random((2, 3, 4, 4))
    assert Normalize(0.5, 0.5)(floats).dtype == np.float64  # float images keep their dtype, as in torchvision
    assert Normalize(0.5, 0.5, dtype=np.float32)(floats).dtype == np.float32


def test_normalize_equals_torchvisions_to_tensor_then_normalize():
    """torchvision's arithmetic, written out as torchvision 0.28 does it (torchvision itself is not installed):
    ToTensor divides uint8 by 255 in float32 and leaves float as it is; Normalize subtracts and divides in the
    tensor's dtype, mean and std converted to it."""
    torch = pytest.importorskip("torch")
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

    def torchvision_normalize(tensor):
        as_dtype = [torch.as_tensor(v, dtype=tensor.dtype).view(-1, 1, 1) for v in (mean, std)]
        return tensor.sub(as_dtype[0]).div(as_dtype[1])

    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):  # float images: the same operations in the same dtype, to the bit
        floats = rng.random((3, 3, 7, 5)).astype(dtype)
        np.testing.assert_array_equal(Normalize(mean, std)(floats), torchvision_normalize(torch.tensor(floats)).numpy())
    pictures = rng.integers(0, 256, (3, 3, 7, 5), dtype=np.uint8)  # uint8: ours rounds once, torchvision thrice
    theirs = torchvision_normalize(torch.from_numpy(pictures).to(torch.float32).div(255)).numpy()
    np.testing.assert_allclose(Normalize(mean, std)(pictures), theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make, batch, error, message", [
    (lambda: Normalize((0.5, 0.5), (0.5, 0.5)), np.zeros((2, 28, 28), np.uint8), ValueError,
     r"Normalize: mean has 2 values for images of 1 channel\(s\) \(shape \(2, 28, 28\)\); give one per channel"),
    (lambda: Normalize((0.5,), (0.2, 0.2)), np.zeros((2, 3, 4, 4), np.float32), ValueError,
     r"Normalize: std has 2 values for images of 3 channel\(s\)"),
    (lambda: Normalize(), np.zeros((2, 28, 28), np.int64), TypeError,
     r"Normalize: images must be uint8 pictures .* or float images already scaled, got int64; convert them"),
    (lambda: Normalize(), np.zeros((28, 28), np.uint8), ValueError,
     r"Normalize: images must be \(N, H, W\) pictures of one channel or \(N, C, H, W\), got shape \(28, 28\)"),
    (lambda: Normalize((0.5,), (0.0,)), None, ValueError, r"Normalize: std \(0.0,\) has a 0"),
    (lambda: Normalize("mnist", 0.5), None, ValueError, r"Normalize: mean must be a finite number or a sequence"),
    (lambda: Normalize(0.5, [[0.5]]), None, ValueError, r"Normalize: std must be a finite number or a sequence"),
])
def test_normalize_refuses_what_it_cannot_handle_naming_the_argument(make, batch, error, message):
    with pytest.raises(error, match=message):
        make()(batch)


def test_no_crop_and_no_rotation_is_just_normalisation():
    batch = images()
    augment = Augment(crop_probability=0.0, degrees=0.0, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(augment(batch), Normalize()(batch))


def test_a_quarter_turn_is_exact_and_counter_clockwise():
    image = images(1)[0]
    np.testing.assert_array_equal(rotate_nearest(image, 90.0), np.rot90(image))


def test_resize_to_the_same_size_is_the_identity():
    image = images(1)[0]
    np.testing.assert_array_equal(resize_bilinear(image, 28, 28), image)


@pytest.mark.parametrize("seed", range(3))
def test_rotation_matches_pil_to_the_pixel(seed):
    rng = np.random.default_rng(seed)
    for image in images(50, seed):
        angle = rng.uniform(-15, 15)
        expected = np.asarray(Image.fromarray(image).rotate(angle, Image.NEAREST, fillcolor=0))
        np.testing.assert_array_equal(rotate_nearest(image, angle), expected)


@pytest.mark.parametrize("seed", range(3))
def test_rotation_and_shift_match_pil_to_the_pixel(seed):
    rng = np.random.default_rng(seed + 10)
    for image in images(50, seed):
        angle, (dx, dy) = rng.uniform(-10, 10), rng.integers(-3, 4, 2)
        expected = np.asarray(Image.fromarray(image).rotate(angle, Image.NEAREST, translate=(int(dx), int(dy)),
                                                            fillcolor=0))
        np.testing.assert_array_equal(rotate_nearest(image, angle, float(dx), float(dy)), expected)


def test_a_shift_moves_the_picture_by_whole_pixels():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[10, 12] = 255
    moved = rotate_nearest(image, 0.0, 3.0, -2.0)
    assert moved[8, 15] == 255 and moved.sum() == 255  # 3 to the right, 2 up


def test_translation_draws_whole_pixel_shifts_and_leaves_the_study_transform_alone():
    batch = images(8, 0)
    study = Augment(generator=np.random.default_rng(4))(batch)
    unshifted = Augment(generator=np.random.default_rng(4), translate=0.0)(batch)
    np.testing.assert_array_equal(study, unshifted)  # translate=0 draws nothing more
    shifted = Augment(generator=np.random.default_rng(4), translate=0.1)(batch)
    assert shifted.shape == study.shape and not np.array_equal(shifted, study)


@pytest.mark.parametrize("seed", range(3))
def test_crop_and_resize_match_pil_to_the_pixel(seed):
    for image in images(50, seed):
        crop = np.ascontiguousarray(image[3:25, 3:25])  # torchvision's centre crop of 22 from 28
        expected = np.asarray(Image.fromarray(crop).resize((28, 28), Image.BILINEAR))
        np.testing.assert_array_equal(resize_bilinear(crop, 28, 28), expected)


def test_the_whole_transform_matches_pil_for_the_same_draws():
    batch = images(200)
    augment = Augment(generator=np.random.default_rng(5))
    out = augment(batch)
    draws = np.random.default_rng(5)
    crop = draws.random(200) < 0.1
    angles = draws.uniform(-15, 15, 200)
    assert 5 < crop.sum() < 40
    for n in range(200):
        picture = Image.fromarray(batch[n])
        if crop[n]:
            picture = picture.crop((3, 3, 25, 25)).resize((28, 28), Image.BILINEAR)
        picture = picture.rotate(angles[n], Image.NEAREST, fillcolor=0)
        expected = (np.asarray(picture, dtype=np.float32) / 255 - MNIST_MEAN) / MNIST_STD
        np.testing.assert_allclose(out[n, 0], expected, rtol=1e-6, atol=1e-6)


def test_augmentation_is_reproducible_from_the_seed():
    batch = images()
    first = Augment(generator=np.random.default_rng(1))(batch)
    again = Augment(generator=np.random.default_rng(1))(batch)
    other = Augment(generator=np.random.default_rng(2))(batch)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_loader_batches_in_order_with_a_short_last_batch():
    batch, labels = images(10), np.arange(10)
    loader = BatchLoader(batch, labels, 4, Normalize())
    got = list(loader)
    assert len(loader) == 3 and [len(y) for _, y in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([y for _, y in got]), labels)
    assert got[0][0].shape == (4, 1, 28, 28)


def test_shuffled_loader_is_a_seeded_permutation_redrawn_each_epoch():
    labels = np.arange(100)
    loader = BatchLoader(images(100), labels, 32, Normalize(), shuffle=True, generator=np.random.default_rng(3))
    epoch1 = np.concatenate([y for _, y in loader])
    epoch2 = np.concatenate([y for _, y in loader])
    assert sorted(epoch1) == list(labels) and not np.array_equal(epoch1, labels)
    assert not np.array_equal(epoch1, epoch2)
    again = BatchLoader(images(100), labels, 32, Normalize(), shuffle=True, generator=np.random.default_rng(3))
    np.testing.assert_array_equal(np.concatenate([y for _, y in again]), epoch1)


def test_a_zero_std_or_an_impossible_crop_is_refused_before_the_kernel_runs():
    """Inside the kernel, run on Numba's threads, the error would be printed and lost (kernels/fast/threads.py)."""
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    with pytest.raises(ValueError, match="std > 0"):
        Augment(std=0.0, generator=np.random.default_rng(0))(images)
    with pytest.raises(ValueError, match="crop"):
        Augment(crop_size=0, generator=np.random.default_rng(0))(images)


def test_augment_takes_torchvisions_one_element_mean_and_std_and_refuses_more_channels():
    from tinycnn.data import Augment

    pictures = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    as_tuples = Augment(mean=(0.1307,), std=[0.3081], generator=np.random.default_rng(1))(pictures)
    as_numbers = Augment(mean=0.1307, std=0.3081, generator=np.random.default_rng(1))(pictures)
    assert np.array_equal(as_tuples, as_numbers)
    with pytest.raises(ValueError, match="one-channel images, so mean is one number"):
        Augment(mean=(0.5, 0.5))
    with pytest.raises(ValueError, match="needs std > 0"):
        Augment(std=0.0)
