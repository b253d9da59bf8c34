"""The module tree as PyTorch walks it: modules, children, apply, requires_grad_, zero_grad; and the containers
and small layers a PyTorch script uses: ModuleList, Identity, Softmax. PyTorch is the oracle for every order."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinycnn.functional as F
from tinycnn import Tensor, nn
from tinycnn.gradcheck import check_gradients


def _build(library):
    """The same tree in tinycnn and in PyTorch (``library`` is ``nn`` or ``torch.nn``): a ModuleList of blocks,
    a shared module under two names, a Sequential, an Identity."""

    class Block(library.Module):
        def __init__(self):
            super().__init__()
            self.conv = library.Conv2d(2, 2, 3, padding=1)
            self.norm = library.BatchNorm2d(2)

        def forward(self, x):
            return x + self.norm(self.conv(x))

    class Net(library.Module):
        def __init__(self):
            super().__init__()
            self.stem = library.Conv2d(1, 2, 3, padding=1)
            self.blocks = library.ModuleList([Block() for _ in range(2)])
            self.blocks.append(Block())
            self.shared = self.blocks[0]
            self.head = library.Sequential(library.Flatten(), library.Identity(), library.Linear(2 * 4 * 4, 3))

        def forward(self, x):
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            return self.head(x)

    return Net()


def test_walks_give_torchs_names_in_torchs_order():
    torch = pytest.importorskip("torch")
    ours, theirs = _build(nn), _build(torch.nn)
    assert [name for name, _ in ours.named_modules()] == [name for name, _ in theirs.named_modules()]
    assert ([name for name, _ in ours.named_modules(remove_duplicate=False)]
            == [name for name, _ in theirs.named_modules(remove_duplicate=False)])
    assert [name for name, _ in ours.named_children()] == [name for name, _ in theirs.named_children()]
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())  # the shared block under both its names
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in theirs.modules()]
    assert [type(m).__name__ for m in ours.children()] == [type(m).__name__ for m in theirs.children()]
    visited, visited_by_torch = [], []
    ours.apply(lambda m: visited.append(type(m).__name__))
    theirs.apply(lambda m: visited_by_torch.append(type(m).__name__))
    assert visited == visited_by_torch  # children before their parent


def test_a_shared_module_is_walked_and_trained_once():
    net = _build(nn)
    assert sum(1 for m in net.modules() if m is net.blocks[0]) == 1
    parameters = list(net.parameters())
    assert len({id(p) for p in parameters}) == len(parameters) == 2 + 3 * 4 + 2
    assert next(net.parameters()) is net.stem.weight  # an iterator, as PyTorch's: next() works


def test_apply_returns_the_module_and_can_initialise_it():
    net = _build(nn)

    def zero_linears(module):
        if isinstance(module, nn.Linear):
            module.bias.data[...] = 0.0

    assert net.apply(zero_linears) is net
    assert not net.head[2].bias.data.any()


def test_requires_grad_freezes_and_unfreezes():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert model[0].requires_grad_(False) is model[0]
    model(Tensor(np.ones((2, 3), dtype=np.float32))).sum().backward()
    assert model[0].weight.grad is None and model[2].weight.grad is not None
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


def test_zero_grad_sets_none_by_default_or_zeros_that_share_nothing():
    model = nn.Linear(3, 2)
    (model(Tensor(np.ones((2, 3), dtype=np.float32))).sum() + model.bias.sum()).backward()
    model.zero_grad(set_to_none=False)
    assert model.weight.grad.dtype == np.float32 and not model.weight.grad.any() and not model.bias.grad.any()
    model.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None


def test_module_list_is_a_list_whose_parameters_the_holder_owns():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    layers.extend([nn.Linear(2, 3)])
    layers += [nn.Identity()]
    assert len(layers) == 4 and isinstance(layers[-1], nn.Identity) and isinstance(layers[1:3], nn.ModuleList)
    assert [type(m).__name__ for m in layers] == ["Linear", "ReLU", "Linear", "Identity"]
    layers.insert(0, nn.Linear(2, 2))
    del layers[1]
    layers[0] = nn.Linear(2, 2)
    assert list(layers.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    holder = nn.Module()
    holder.layers = layers
    assert [name for name, _ in holder.named_parameters()] == ["layers.0.weight", "layers.0.bias", "layers.2.weight",
                                                               "layers.2.bias"]
    with pytest.raises(TypeError, match="ModuleList: item 0 is a function, not a Module"):
        nn.ModuleList([F.relu])
    with pytest.raises(IndexError, match="ModuleList: index 4 is out of range for 4 modules"):
        layers[4]


def test_module_list_state_dict_loads_into_torchs():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    ours = nn.ModuleList([nn.Linear(3, 2, generator=rng), nn.Conv2d(1, 2, 3, generator=rng)])
    theirs = torch.nn.ModuleList([torch.nn.Linear(3, 2), torch.nn.Conv2d(1, 2, 3)])
    theirs.load_state_dict({key: torch.from_numpy(value) for key, value in ours.state_dict().items()})
    x = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(ours[0](Tensor(x)).data, theirs[0](torch.from_numpy(x)).detach().numpy(), rtol=1e-6,
                               atol=1e-7)  # float32 sums in another order: an output near 0 differs in its last bits


def test_sequential_slices_are_sequentials():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    head = model[1:]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is model[2]
    model.append(nn.Identity())
    assert len(model) == 4 and model(Tensor(np.ones((1, 2), dtype=np.float32))).shape == (1, 1)


def test_identity_returns_its_input_and_ignores_its_arguments():
    x = Tensor(np.ones(3))
    assert nn.Identity(54, unused="argument")(x) is x


@given(st.integers(1, 4), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_softmax_module_gradients(N, C, seed):
    x = np.random.default_rng(seed).standard_normal((N, C)) * 3
    check_gradients(lambda x: nn.Softmax(dim=1)(x), [x], seed)
    check_gradients(lambda x: nn.Softmax(dim=0)(x), [x], seed)


def test_softmax_modules_match_torch_with_an_explicit_and_an_implicit_dim():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    for ours, theirs in ((nn.Softmax(dim=-1), torch.nn.Softmax(dim=-1)), (nn.LogSoftmax(2), torch.nn.LogSoftmax(2))):
        np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).numpy(), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ours, theirs, shape in ((nn.Softmax(), torch.nn.Softmax(), (2, 3, 4)),
                                    (nn.LogSoftmax(), torch.nn.LogSoftmax(), (2, 3))):
            y = x.reshape(-1)[:np.prod(shape)].reshape(shape)
            np.testing.assert_allclose(ours(Tensor(y)).data, theirs(torch.tensor(y)).numpy(), rtol=1e-12)
    with pytest.warns(UserWarning, match="Softmax: an implicit dim is deprecated in PyTorch; pass dim"):
        nn.Softmax()(Tensor(x))


def test_add_module_names_a_child_made_at_run_time():
    model = nn.Module()
    for index in range(2):
        model.add_module(f"layer{index}", nn.Linear(2, 2))
    assert [name for name, _ in model.named_children()] == ["layer0", "layer1"]
    with pytest.raises(KeyError, match="add_module: the name must be a non-empty string without '.', got 'a.b'"):
        model.add_module("a.b", nn.ReLU())
