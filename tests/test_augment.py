"""The study's augmentation and the batch loader: semantics, seeding, and PIL as the oracle."""

import numpy as np
import pytest
from PIL import Image

from tinycnn.data import MNIST_MEAN, MNIST_STD, Augment, BatchLoader, Normalize
from tinycnn.data.augment import resize_bilinear, rotate_nearest


def images(count=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)


def test_normalize_scales_to_unit_range_then_standardises():
    out = Normalize()(np.array([[[0, 255]]], dtype=np.uint8))
    assert out.shape == (1, 1, 1, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [(0 - MNIST_MEAN) / MNIST_STD, (1 - MNIST_MEAN) / MNIST_STD], rtol=1e-6)


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
