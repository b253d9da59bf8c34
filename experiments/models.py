"""The study's three models, written as a PyTorch user would write them, and our small ones.

Layer names (conv1, fc1, ...) give the state_dict keys (``conv1.weight``).
The study's: shapes follow docs/study.md; parameter counts are 593,200,
61,461 and 24,245. Ours (``TinyNet``, experiments/tiny.py): under 8,000,
5,000 and 2,000 parameters, with BatchNorm, dropout and global average
pooling.
"""

import tinycnn.functional as F
from tinycnn import nn


class BaselineNet(nn.Module):
    """Iteration 1 and 2: 593,200 parameters. 28 -> 26 -> 24 -> 12 -> 10 -> 8 -> 4; 256*4*4 = 4096."""

    def __init__(self, generator=None):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, generator=generator)
        self.conv2 = nn.Conv2d(32, 64, 3, generator=generator)
        self.conv3 = nn.Conv2d(64, 128, 3, generator=generator)
        self.conv4 = nn.Conv2d(128, 256, 3, generator=generator)
        self.fc1 = nn.Linear(4096, 50, generator=generator)
        self.fc2 = nn.Linear(50, 10, generator=generator)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(self.conv3(x))
        x = F.relu(F.max_pool2d(self.conv4(x), 2))
        x = F.flatten(x)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


class ReducedNet(nn.Module):
    """Iteration 3: 61,461 parameters. 28 -> 26 -> 24 -> 12 -> 10 -> 3; 64*3*3 = 576."""

    def __init__(self, generator=None):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, generator=generator)
        self.conv2 = nn.Conv2d(16, 32, 3, generator=generator)
        self.conv3 = nn.Conv2d(32, 64, 3, generator=generator)
        self.fc1 = nn.Linear(576, 65, generator=generator)
        self.fc2 = nn.Linear(65, 10, generator=generator)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 3)
        x = F.flatten(x)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


class MinimalNet(nn.Module):
    """Iteration 4: 24,245 parameters. 28 -> 26 -> 13 -> 11 -> 3; 32*3*3 = 288."""

    def __init__(self, generator=None):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, generator=generator)
        self.conv2 = nn.Conv2d(16, 32, 3, generator=generator)
        self.fc1 = nn.Linear(288, 65, generator=generator)
        self.fc2 = nn.Linear(65, 10, generator=generator)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 3)
        x = F.flatten(x)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


def conv_block(in_channels, out_channels, dropout, generator):
    """3x3 convolution (no bias: the BatchNorm after it has one), BatchNorm, ReLU, and dropout if dropout > 0."""
    layers = [nn.Conv2d(in_channels, out_channels, 3, bias=False, generator=generator), nn.BatchNorm2d(out_channels),
              nn.ReLU()]
    return nn.Sequential(*layers, *([nn.Dropout(dropout)] if dropout else []))


class TinyNet(nn.Module):
    """Ours: a small CNN of the kind that reaches 99.4 % on MNIST with a few thousand parameters.

    (experiments/tiny.py trains it without dropout: in our runs dropout 0.05
    in every block did no better, and cost a tenth of the step.)

    28 -> 26 -> 24 (block1, block2), a 1x1 convolution that narrows the
    channels, max-pool 2 -> 12, then 10 -> 8 -> 6 (block3 .. block5), global
    average pooling to one value per channel, and a 1x1 convolution to the 10
    classes. ``widths`` are the channels of block1, block2, the 1x1, block3,
    block4 and block5.
    """

    def __init__(self, widths=(10, 16, 10, 14, 16, 16), dropout=0.0, generator=None):
        super().__init__()
        c1, c2, narrow, c3, c4, c5 = widths
        self.block1 = conv_block(1, c1, dropout, generator)
        self.block2 = conv_block(c1, c2, dropout, generator)
        self.narrow = nn.Conv2d(c2, narrow, 1, bias=False, generator=generator)
        self.pool = nn.MaxPool2d(2)
        self.block3 = conv_block(narrow, c3, dropout, generator)
        self.block4 = conv_block(c3, c4, dropout, generator)
        self.block5 = conv_block(c4, c5, dropout, generator)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.classify = nn.Conv2d(c5, 10, 1, bias=False, generator=generator)

    def forward(self, x):
        x = self.block2(self.block1(x))
        x = self.pool(self.narrow(x))
        x = self.block5(self.block4(self.block3(x)))
        x = F.flatten(self.classify(self.gap(x)))
        return F.log_softmax(x, dim=1)


def tiny(widths):
    return lambda generator=None: TinyNet(widths, generator=generator)


MODELS = {
    "baseline": BaselineNet, "reduced": ReducedNet, "minimal": MinimalNet,
    "tiny8k": tiny((10, 16, 10, 14, 16, 16)),
    "tiny5k": tiny((8, 12, 8, 10, 12, 12)),
    "tiny2k": tiny((4, 8, 4, 8, 8, 8)),
}
