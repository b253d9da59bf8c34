"""The study's three models, written as a PyTorch user would write them.

Layer names (conv1, fc1, ...) give the state_dict keys (``conv1.weight``).
Shapes follow docs/study.md; parameter counts are 593,200, 61,461 and 24,245.
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


MODELS = {"baseline": BaselineNet, "reduced": ReducedNet, "minimal": MinimalNet}
