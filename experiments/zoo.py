"""Small CNNs that people train on MNIST, not ours: each written once, for tinycnn and for PyTorch alike.

Each model is a function of an ``nn`` module, ``tinycnn.nn`` or
``torch.nn``: tinycnn keeps PyTorch's names and arguments, so the same
lines build the same network in both engines (the weights differ: each
engine draws its own). ``experiments/benchmark.py`` times them beside the
study's models and tiny8k. Input: (N, 1, 28, 28); output: 10 class scores.

- ``lenet5``: LeCun et al.'s LeNet-5 as it is usually written today: 5x5
  convs, the first padded by 2, ReLU and max-pool, three linear layers.
- ``vgg``: two VGG-style blocks of two 3x3 convs with padding 1, each with
  BatchNorm and ReLU, a 2x2 pool after each block.
- ``strided``: all-convolutional, downsampling with stride-2 convs instead of
  pools (28 -> 14 -> 7 -> 4).
- ``bn_gap``: the common sub-8K recipe: 3x3 convs with padding 1 and
  BatchNorm, one max-pool, dropout, a 1x1 conv to the classes, global average
  pooling.
- ``pytorch_example``: the network of PyTorch's own MNIST example
  (pytorch/examples, mnist/main.py), here at batch 16: the case where the
  work per call is small and each op's overhead shows.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ZooModel:
    description: str
    build: object  # build(nn) -> the module
    batch: int
    optimizer: str  # "sgd" or "adam"
    optimizer_options: dict


def lenet5(nn):
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def vgg(nn):
    def conv(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(*conv(1, 16), *conv(16, 16), nn.MaxPool2d(2),
                         *conv(16, 32), *conv(32, 32), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def strided(nn):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 10))


def bn_gap(nn):
    def conv(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(*conv(1, 8), *conv(8, 16), nn.MaxPool2d(2), nn.Dropout(0.05),
                         *conv(16, 16), *conv(16, 16), nn.Dropout(0.05),
                         nn.Conv2d(16, 10, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def pytorch_example(nn):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


ZOO = {
    "lenet5": ZooModel("LeNet-5, 61,706 params", lenet5, 128, "sgd", dict(lr=0.01, momentum=0.9)),
    "vgg": ZooModel("VGG-style, 2x2 3x3 convs + BatchNorm, 32,154 params", vgg, 128, "adam", dict(lr=1e-3)),
    "strided": ZooModel("stride-2 convs, no pools, 33,546 params", strided, 128, "sgd",
                        dict(lr=0.01, momentum=0.9)),
    "bn_gap": ZooModel("BatchNorm + dropout + 1x1 + GAP, 6,114 params", bn_gap, 128, "adam", dict(lr=1e-3)),
    "pytorch_example": ZooModel("PyTorch's MNIST example, 1,199,882 params", pytorch_example, 16, "adam",
                                dict(lr=1e-3)),
}


def build(name, nn, optim):
    """The zoo model ``name`` and its optimizer, in the engine whose ``nn`` and ``optim`` modules are given."""
    entry = ZOO[name]
    model = entry.build(nn)
    optimizer = {"sgd": optim.SGD, "adam": optim.Adam}[entry.optimizer](model.parameters(), **entry.optimizer_options)
    return model, optimizer
