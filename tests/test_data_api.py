"""PyTorch's data API in tinycnn.data: data sets, the loader, transforms, IDX readers, checkpointed state.

torch's DataLoader and random_split are the oracle for lengths, batch
shapes and dtypes, not for the shuffled order, which comes from torch's
own generator.
"""

import gzip
from pathlib import Path

import numpy as np
import pytest

import tinycnn
import tinycnn.data as data
from tinycnn import Tensor
from tinycnn.data import (DataError, DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split,
                          transforms as T)
from tinycnn.data.datasets import EMNIST, MNIST, FashionMNIST, IDXDataset, ImageDataset

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "mnist"


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def pictures(count, height=28, width=28, seed=0, channels=None):
    shape = (count, height, width) if channels is None else (count, height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


class Squares(Dataset):
    """A user's own data set, item by item: (array (2,) float32, int label)."""

    def __init__(self, count):
        self.count = count

    def __getitem__(self, index):
        return np.array([index, index * index], dtype=np.float32), int(index % 3)

    def __len__(self):
        return self.count


# ----- the loader against torch's -------------------------------------------------------------------------------------

@pytest.mark.parametrize("count, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True), (5, 8, False),
                                                          (5, 8, True), (1, 1, False)])
def test_lengths_and_batch_shapes_are_torchs(torch, count, batch_size, drop_last):
    images = np.arange(count * 4, dtype=np.float32).reshape(count, 1, 2, 2)
    labels = np.arange(count)
    ours = DataLoader(TensorDataset(Tensor(images), labels), batch_size=batch_size, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(images), torch.tensor(labels)),
                                         batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    for (x, y), (tx, ty) in zip(ours, theirs, strict=True):
        assert isinstance(x, Tensor) and x.shape == tuple(tx.shape) and y.shape == tuple(ty.shape)
        assert x.dtype == np.float32 and y.dtype == np.int64 and str(ty.dtype) == "torch.int64"
        np.testing.assert_array_equal(x.data, tx.numpy())  # in order: the same batches
        np.testing.assert_array_equal(y.data, ty.numpy())


@pytest.mark.parametrize("items", [
    [(np.zeros((1, 2, 2), np.uint8), 3), (np.ones((1, 2, 2), np.uint8), 4)],
    [(1.5, True), (2.5, False)],
    [{"x": np.float32(1), "name": "a"}, {"x": np.float32(2), "name": "b"}],
    [[np.arange(3), 7], [np.arange(3) + 1, 8]],
])
def test_the_default_collate_makes_torchs_batches(torch, items):
    from torch.utils.data import default_collate as torch_collate

    def compare(ours, theirs):
        if isinstance(theirs, torch.Tensor):
            assert isinstance(ours, Tensor) and ours.shape == tuple(theirs.shape)
            assert str(theirs.dtype) == f"torch.{ours.dtype}"
            np.testing.assert_array_equal(ours.data, theirs.numpy())
        elif isinstance(theirs, dict):
            assert list(ours) == list(theirs)
            for key in theirs:
                compare(ours[key], theirs[key])
        else:
            assert type(ours) is type(theirs) and len(ours) == len(theirs)
            for a, b in zip(ours, theirs):
                compare(a, b) if not isinstance(b, str) else None

    compare(default_collate(items), torch_collate(items))


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.7], [0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.25, 0.25, 0.5],
                                     [0.55, 0.45]])
@pytest.mark.parametrize("count", [10, 11, 7])
def test_random_split_gives_torchs_lengths_and_shares_every_item_once(torch, lengths, count):
    if all(isinstance(length, int) for length in lengths) and sum(lengths) != count:
        lengths = [count - 3, 3]
    dataset = TensorDataset(np.arange(count))
    ours = random_split(dataset, lengths, generator=np.random.default_rng(0))
    theirs = torch.utils.data.random_split(range(count), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(subset) for subset in ours] == [len(subset) for subset in theirs]
    shared = sorted(int(subset[i][0]) for subset in ours for i in range(len(subset)))
    assert shared == list(range(count))


def test_random_split_is_reproducible_and_refuses_lengths_that_do_not_fit():
    dataset = TensorDataset(np.arange(20))
    first = random_split(dataset, [0.8, 0.2], generator=np.random.default_rng(5))
    again = random_split(dataset, [0.8, 0.2], generator=np.random.default_rng(5))
    assert [s.indices for s in first] == [s.indices for s in again] and len(first[0]) == 16
    with pytest.raises(ValueError, match=r"random_split: the lengths \[3, 4\] sum to 7, but the data set has 20"):
        random_split(dataset, [3, 4])
    with pytest.raises(ValueError, match=r"random_split: lengths must be whole numbers >= 0 .* fractions summing to 1"):
        random_split(dataset, [0.5, 0.2])
    with pytest.raises(TypeError, match=r"random_split: generator must be a numpy.random.Generator, e.g. "
                                        r"np.random.default_rng\(42\)"):
        random_split(dataset, [10, 10], generator=42)


def test_a_shuffled_epoch_gives_every_index_once_in_a_new_order_each_epoch():
    loader = DataLoader(TensorDataset(np.arange(103)), batch_size=10, shuffle=True, generator=np.random.default_rng(1))
    epochs = [np.concatenate([batch.data for (batch,) in loader]) for _ in range(3)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(103))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[0], np.arange(103))
    again = DataLoader(TensorDataset(np.arange(103)), batch_size=10, shuffle=True, generator=np.random.default_rng(1))
    np.testing.assert_array_equal(np.concatenate([batch.data for (batch,) in again]), epochs[0])
    dropped = DataLoader(TensorDataset(np.arange(103)), batch_size=10, shuffle=True, drop_last=True,
                         generator=np.random.default_rng(1))
    assert len(dropped) == 10 and len(set(np.concatenate([b.data for (b,) in dropped]))) == 100


def test_the_default_generator_follows_manual_seed():
    loader = DataLoader(TensorDataset(np.arange(50)), batch_size=50, shuffle=True)
    tinycnn.manual_seed(3)
    first = next(iter(loader))[0].data
    tinycnn.manual_seed(3)
    np.testing.assert_array_equal(next(iter(loader))[0].data, first)
    assert loader.state_dict()["generator"] is None  # tinycnn's default generator is not the loader's to save


def test_a_users_dataset_item_by_item_gives_what_the_batch_path_gives():
    slow = list(DataLoader(Squares(10), batch_size=4, shuffle=True, generator=np.random.default_rng(2)))
    values = np.stack([np.array([i, i * i], np.float32) for i in range(10)])
    fast = list(DataLoader(TensorDataset(values, np.arange(10) % 3), batch_size=4, shuffle=True,
                           generator=np.random.default_rng(2)))
    for (x, y), (fx, fy) in zip(slow, fast, strict=True):
        assert x.dtype == fx.dtype == np.float32 and y.dtype == fy.dtype == np.int64
        np.testing.assert_array_equal(x.data, fx.data)
        np.testing.assert_array_equal(y.data, fy.data)
    subset = Subset(TensorDataset(values), [9, 8, 7])
    np.testing.assert_array_equal(next(iter(DataLoader(subset, batch_size=3)))[0].data, values[[9, 8, 7]])


def test_batch_size_none_gives_items_one_by_one_and_a_sampler_sets_the_order():
    items = list(DataLoader(Squares(3), batch_size=None))
    assert len(items) == 3 and items[2][0].shape == (2,) and items[2][1] == 2
    loader = DataLoader(TensorDataset(np.arange(6)), batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert [list(b.data) for (b,) in loader] == [[5, 4], [3, 2], [1, 0]]


def test_worker_and_memory_arguments_are_accepted_and_change_nothing():
    plain = DataLoader(TensorDataset(np.arange(9)), batch_size=4)
    busy = DataLoader(TensorDataset(np.arange(9)), batch_size=4, num_workers=4, pin_memory=True,
                      persistent_workers=True, prefetch_factor=2, worker_init_fn=print, timeout=5)
    assert [list(b.data) for (b,) in busy] == [list(b.data) for (b,) in plain]


@pytest.mark.parametrize("make, error, message", [
    (lambda: DataLoader(TensorDataset(np.arange(3)), batch_size=0), ValueError, r"batch_size must be a whole number"),
    (lambda: DataLoader(TensorDataset(np.arange(3)), batch_sampler=[[0, 1]]), ValueError,
     r"batch_sampler is not supported"),
    (lambda: DataLoader(TensorDataset(np.arange(3)), shuffle=True, sampler=[0]), ValueError,
     r"sampler and shuffle=True are mutually exclusive"),
    (lambda: DataLoader(TensorDataset(np.arange(3)), generator=0), TypeError,
     r"DataLoader: generator must be a numpy.random.Generator"),
    (lambda: DataLoader(iter(range(3))), TypeError, r"dataset must be map-style"),
    (lambda: next(iter(DataLoader([np.zeros(2), np.zeros(3)], batch_size=2))), ValueError,
     r"the default collate stacks the items of a batch, which must have one shape; got shapes \[\(2,\), \(3,\)\]"),
    (lambda: next(iter(DataLoader([object()], batch_size=1))), TypeError, r"an item holds a object"),
    (lambda: TensorDataset(np.arange(3), np.arange(4)), ValueError, r"same first dimension .* got sizes \[3, 4\]"),
    (lambda: TensorDataset([1, 2]), TypeError, r"TensorDataset: argument 0 must be a Tensor or a NumPy array"),
])
def test_bad_arguments_get_clear_messages(make, error, message):
    with pytest.raises(error, match=message):
        make()


# ----- transforms -----------------------------------------------------------------------------------------------------

def test_to_tensor_scales_uint8_as_torchvision_does(torch):
    for picture in (pictures(1)[0], pictures(1, 5, 7, channels=3)[0]):
        out = T.ToTensor()(picture)
        channels_last = torch.tensor(picture).reshape(picture.shape[:2] + (-1,))
        theirs = channels_last.permute(2, 0, 1).contiguous().to(torch.float32).div(255)  # torchvision's ToTensor
        assert isinstance(out, Tensor) and out.dtype == np.float32
        np.testing.assert_array_equal(out.data, theirs.numpy())
    floats = np.random.default_rng(0).random((4, 5, 2))
    np.testing.assert_array_equal(T.ToTensor()(floats).data, floats.transpose(2, 0, 1))  # floats kept, as torchvision


def test_normalize_takes_one_image_per_item_and_computes_as_torchvision(torch):
    image = T.ToTensor()(pictures(1, channels=3)[0])
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    out = T.Normalize(mean, std)(image)
    theirs = (torch.tensor(image.data) - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    assert out.shape == (3, 28, 28) and out.dtype == np.float32
    np.testing.assert_array_equal(out.data, theirs.numpy())
    batch = Tensor(np.stack([image.data, image.data]))
    np.testing.assert_array_equal(T.Normalize(mean, std).batch(batch).data[1], out.data)
    with pytest.raises(TypeError, match=r"Normalize: takes a float image .* got uint8; apply ToTensor\(\) first"):
        T.Normalize((0.5,), (0.5,))(pictures(1)[0])
    with pytest.raises(ValueError, match=r"Normalize: std 0 has a 0"):
        T.Normalize(0.5, 0)


def test_the_flips_mirror_pictures_and_tensors_alike_with_one_draw_per_image():
    batch = pictures(20, 4, 5)
    flips = T.RandomHorizontalFlip(p=0.5, generator=np.random.default_rng(3)).batch(batch)
    draws = np.random.default_rng(3).random(20) < 0.5
    assert 3 < draws.sum() < 17
    for n in range(20):
        np.testing.assert_array_equal(flips[n], batch[n, :, ::-1] if draws[n] else batch[n])
    one_by_one = T.RandomHorizontalFlip(generator=np.random.default_rng(3))
    np.testing.assert_array_equal(np.stack([one_by_one(picture) for picture in batch]), flips)
    as_tensors = T.RandomHorizontalFlip(generator=np.random.default_rng(3)).batch(T.ToTensor().batch(batch))
    np.testing.assert_array_equal(as_tensors.data, T.ToTensor().batch(flips).data)
    vertical = T.RandomVerticalFlip(p=1.0)(T.ToTensor()(batch[0]))
    np.testing.assert_array_equal(vertical.data, T.ToTensor()(batch[0, ::-1]).data)


def study_compose(seed, count):
    """torchvision's spelling of the study's transform; its crop draws and its angles from StudyAugment's stream."""
    angles = np.random.default_rng(seed)
    angles.random(count)  # StudyAugment draws all the crops of a batch first, then the angles
    return T.Compose([T.RandomApply([T.CenterCrop(22)], p=0.1, generator=np.random.default_rng(seed)),
                      T.Resize(28), T.RandomRotation(15, generator=angles), T.ToTensor(),
                      T.Normalize((0.1307,), (0.3081,))])


def test_the_study_transform_is_its_torchvision_composition():
    batch = pictures(300)
    composed = study_compose(7, 300)
    ours = T.StudyAugment(generator=np.random.default_rng(7)).batch(batch)
    theirs = np.stack([composed(picture).data for picture in batch])
    assert ours.shape == theirs.shape == (300, 1, 28, 28)
    # the pictures agree to the pixel; the normalisation rounds once (ours) or at each step (torchvision's order)
    np.testing.assert_allclose(ours.data, theirs, rtol=0, atol=2e-6)
    assert np.array_equal(ours.data, data.Augment(generator=np.random.default_rng(7))(batch))  # the study's bits


def test_compose_runs_batch_forms_where_they_exist_and_items_where_not():
    batch = pictures(16)
    pipeline = lambda seed: T.Compose([T.RandomRotation(10, generator=np.random.default_rng(seed)), T.ToTensor(),
                                       T.RandomHorizontalFlip(generator=np.random.default_rng(seed + 1)),
                                       T.Normalize((0.5,), (0.25,))])
    by_batch = pipeline(0).batch(batch)
    by_item = np.stack([t.data for t in map(pipeline(0), batch)])
    np.testing.assert_array_equal(by_batch.data, by_item)  # each random transform has its own generator
    with pytest.raises(TypeError, match=r"Compose: transform 1 is a type, not a callable; give transforms such as "
                                        r"ToTensor\(\) \(note the brackets\)"):
        T.Compose([T.ToTensor(), T.ToTensor])


@pytest.mark.parametrize("make, image, error, message", [
    (lambda: T.Resize(14), Tensor(np.zeros((1, 28, 28), np.float32)), TypeError,
     r"Resize: takes a picture, a NumPy uint8 array \(H, W\) or \(H, W, C\) .* apply it before ToTensor\(\)"),
    (lambda: T.RandomRotation(10, fill=1), None, ValueError, r"fill other than 0 are not implemented"),
    (lambda: T.CenterCrop(30), np.zeros((28, 28), np.uint8), ValueError, r"the crop 30x30 is larger than the image"),
    (lambda: T.ToTensor(), Tensor(np.zeros((1, 2, 2), np.float32)), TypeError, r"ToTensor: takes a NumPy picture"),
    (lambda: T.RandomHorizontalFlip(generator=1), None, TypeError, r"RandomHorizontalFlip: generator must be"),
])
def test_transforms_refuse_what_they_cannot_do(make, image, error, message):
    with pytest.raises(error, match=message):
        make()(image)


def test_resize_keeps_the_aspect_ratio_and_resizes_each_channel():
    picture = pictures(1, 10, 20, channels=3)[0]
    out = T.Resize(5)(picture)
    assert out.shape == (5, 10, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :, 1], T.Resize((5, 10))(np.ascontiguousarray(picture[:, :, 1])))


# ----- state in a checkpoint ------------------------------------------------------------------------------------------

def test_a_checkpoint_mid_epoch_gives_the_same_next_batches(tmp_path):
    def make():
        transform = T.Compose([T.RandomRotation(15, generator=np.random.default_rng(1)), T.ToTensor(),
                               T.RandomHorizontalFlip(generator=np.random.default_rng(2))])
        dataset = ImageDataset(pictures(50), np.arange(50), transform)
        return DataLoader(dataset, batch_size=8, shuffle=True, generator=np.random.default_rng(0)), transform

    loader, transform = make()
    next(iter(loader))  # epoch 1 partly
    batches = iter(loader)  # epoch 2: a new order
    [next(batches) for _ in range(3)]
    tinycnn.save({"loader": loader.state_dict(), "transform": transform.state_dict()}, tmp_path / "state.npz")
    expected = [(x.data, y.data) for x, y in batches] + [(x.data, y.data) for x, y in loader]  # epoch 2's rest, 3

    resumed, resumed_transform = make()
    state = tinycnn.load(tmp_path / "state.npz")
    resumed.load_state_dict(state["loader"])
    resumed_transform.load_state_dict(state["transform"])
    got = [(x.data, y.data) for x, y in resumed] + [(x.data, y.data) for x, y in resumed]
    assert len(got) == len(expected) == 4 + 7
    for (x, y), (ex, ey) in zip(got, expected):
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)


def test_loading_a_state_into_a_loader_made_otherwise_is_refused():
    saved = DataLoader(TensorDataset(np.arange(5)), shuffle=True, generator=np.random.default_rng(0))
    iter(saved)
    with pytest.raises(ValueError, match=r"DataLoader.load_state_dict: this one draws from the default generator"):
        DataLoader(TensorDataset(np.arange(5)), shuffle=True).load_state_dict(saved.state_dict())
    with pytest.raises(ValueError, match=r"the saved epoch has 5 indices, this loader gives 6 an epoch"):
        DataLoader(TensorDataset(np.arange(6)), shuffle=True,
                   generator=np.random.default_rng(0)).load_state_dict(saved.state_dict())


# ----- IDX data sets --------------------------------------------------------------------------------------------------

def write_idx(path, array, gz):
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    content = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        Path(f"{path}.gz").write_bytes(gzip.compress(content))
    else:
        path.write_bytes(content)


@pytest.mark.parametrize("size, classes, gz", [((28, 28), 10, True), ((32, 20), 47, False), ((5, 9), 3, True)])
def test_any_idx_set_of_any_size_and_class_count_loads_and_batches(tmp_path, size, classes, gz):
    rng = np.random.default_rng(0)
    images, labels = pictures(23, *size), rng.integers(0, classes, 23)
    labels[0] = classes - 1
    write_idx(tmp_path / "train-images-idx3-ubyte", images, gz)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels, not gz)  # one of each: either may be gzipped
    dataset = IDXDataset(tmp_path, train=True, transform=T.Compose([T.ToTensor(), T.Normalize(0.5, 0.5)]))
    assert len(dataset) == 23 and len(dataset.classes) == classes
    image, label = dataset[4]
    assert image.shape == (1,) + size and label == labels[4] and isinstance(label, int)
    loader = DataLoader(dataset, batch_size=10, shuffle=True, generator=np.random.default_rng(0))
    batches = list(loader)
    assert [len(y) for _, y in batches] == [10, 10, 3] and batches[0][0].shape == (10, 1) + size
    order = np.concatenate([y.data for _, y in batches])
    assert sorted(order) == sorted(labels)
    # the batch path and the item path give the same batch
    item_by_item = DataLoader(dataset, batch_size=10, collate_fn=lambda items: default_collate(items))
    for (x, y), (ix, iy) in zip(DataLoader(dataset, batch_size=10), item_by_item, strict=True):
        np.testing.assert_array_equal(x.data, ix.data)
        np.testing.assert_array_equal(y.data, iy.data)
        assert iy.dtype == np.int64


def test_torchvisions_layout_and_emnists_names_are_found(tmp_path):
    for split, train in (("t10k", False), ("train", True)):
        write_idx(tmp_path / "FashionMNIST" / "raw" / f"{split}-images-idx3-ubyte", pictures(4), True)
        write_idx(tmp_path / "FashionMNIST" / "raw" / f"{split}-labels-idx1-ubyte", np.arange(4), True)
    test_set = FashionMNIST(tmp_path, train=False)
    assert len(test_set) == 4 and test_set.classes[9] == "Ankle boot" and test_set[0][0].dtype == np.uint8
    write_idx(tmp_path / "emnist-letters-test-images-idx3-ubyte", pictures(3), False)
    write_idx(tmp_path / "emnist-letters-test-labels-idx1-ubyte", np.array([1, 26, 5]), False)
    letters = EMNIST(tmp_path, split="letters", train=False)
    assert len(letters.classes) == 27 and letters[1][1] == 26


def test_missing_or_mismatched_files_are_named_with_where_they_were_looked_for(tmp_path):
    with pytest.raises(DataError, match=r"FashionMNIST: train-images-idx3-ubyte\[.gz\] not found; looked in "
                                        rf"{tmp_path}, {tmp_path}/FashionMNIST/raw, {tmp_path}/FashionMNIST"):
        FashionMNIST(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", pictures(4), True)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\[.gz\]: file not found"):
        IDXDataset(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(5), True)
    with pytest.raises(DataError, match=r"5 labels for 4 images"):
        IDXDataset(tmp_path)
    with pytest.raises(ValueError, match=r"download=True is not supported"):
        MNIST(tmp_path, download=True)


def test_an_mnist_epoch_is_built_a_batch_at_a_time_not_an_image_at_a_time(monkeypatch):
    # the speed of an epoch comes from one indexing per batch (get_batch); no timing here, on a shared machine
    dataset = MNIST(SHIPPED, train=True, transform=T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]))
    train, _ = random_split(dataset, [55000, 5000], generator=np.random.default_rng(0))
    loader = DataLoader(train, batch_size=64, shuffle=True, generator=np.random.default_rng(0))

    def one_image(self, index):
        raise AssertionError("the loader asked for one image: the batch path was not taken")

    monkeypatch.setattr(type(dataset), "__getitem__", one_image)
    count = sum(len(y) for _, y in loader)
    assert count == 55000
    x, y = next(iter(loader))
    assert x.shape == (64, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64


def test_the_experiments_batch_loader_gives_the_batches_it_gave_before_it_became_a_dataloader():
    """BatchLoader's former body, inline: the committed records depend on its order, draws and transform calls."""
    def former(images, labels, batch_size, transform, generator):
        order = generator.permutation(len(images))
        for start in range(0, len(images), batch_size):
            batch = order[start:start + batch_size]
            yield transform(images[batch]), labels[batch]

    images, labels = pictures(70), np.arange(70)
    loader = data.BatchLoader(images, labels, 16, data.Augment(generator=np.random.default_rng(1)), shuffle=True,
                              generator=np.random.default_rng(2))
    augment, order = data.Augment(generator=np.random.default_rng(1)), np.random.default_rng(2)
    for _ in range(2):  # two epochs: the order is drawn again
        for (x, y), (fx, fy) in zip(loader, former(images, labels, 16, augment, order), strict=True):
            assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
            np.testing.assert_array_equal(x, fx)
            np.testing.assert_array_equal(y, fy)
