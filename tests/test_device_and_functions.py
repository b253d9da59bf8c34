"""The device lines, torch.* functions and generators of a PyTorch script run as written on the CPU."""

import numpy as np
import pytest

import tinycnn
from tinycnn import nn, optim
from tinycnn.data import TensorDataset, random_split


def test_the_usual_device_line_picks_the_cpu_and_moving_to_it_changes_nothing():
    device = tinycnn.device("cuda" if tinycnn.cuda.is_available() else "cpu")
    assert str(device) == "cpu" and device == "cpu" and device == tinycnn.device("cpu")
    model = nn.Linear(3, 2)
    weight = model.weight.data
    assert model.to(device) is model and model.weight.data is weight
    x = tinycnn.randn(4, 3)
    assert x.to(device) is x and x.to("cpu:0") is x and x.to(device, non_blocking=True) is x
    assert x.to(device, tinycnn.float64).dtype == np.float64 and x.to(dtype=tinycnn.float64).dtype == np.float64
    assert x.to(tinycnn.zeros(1, dtype=tinycnn.float64)).dtype == np.float64
    assert model.to(device=device, dtype=tinycnn.float64).weight.dtype == np.float64


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "mps"])
def test_another_device_is_refused_with_the_reason(name):
    with pytest.raises(RuntimeError, match="CPU only"):
        tinycnn.device(name)
    with pytest.raises(RuntimeError, match="CPU only"):
        tinycnn.zeros(2).to(name)
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.Linear(2, 2).to(name)


def test_torch_level_functions_are_the_tensor_methods():
    x = tinycnn.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    assert tinycnn.flatten(tinycnn.zeros(2, 3, 4)).shape == (24,)
    assert tinycnn.flatten(tinycnn.zeros(2, 3, 4), 1).shape == (2, 12)
    assert np.array_equal(tinycnn.argmax(x, dim=1).numpy(), [1, 0])
    values, indices = tinycnn.max(x, 1)
    assert np.array_equal(values.numpy(), [5.0, 7.0]) and np.array_equal(indices.numpy(), [1, 0])
    assert float(tinycnn.min(x)) == 0.0
    with pytest.raises(TypeError, match="Tensor.data is the array"):
        tinycnn.max(x.data, 1)


def test_a_generator_made_the_pytorch_way_seeds_and_resumes():
    generator = tinycnn.Generator().manual_seed(42)
    assert isinstance(generator, np.random.Generator) and generator.initial_seed() == 42
    first = generator.random(3)
    assert np.array_equal(first, np.random.default_rng(42).random(3))
    state = generator.get_state()
    after = generator.random(2)
    generator.set_state(state)
    assert np.array_equal(generator.random(2), after)
    train, val = random_split(TensorDataset(np.arange(10)), [8, 2], generator=generator)
    assert len(train) == 8 and len(val) == 2


def test_optimizer_zero_grad_takes_set_to_none():
    model = nn.Linear(2, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    model(tinycnn.ones(3, 2)).sum().backward()
    optimizer.zero_grad(set_to_none=False)
    assert all(np.array_equal(p.grad, np.zeros_like(p.data)) for p in model.parameters())
    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_tolist_and_requires_grad_in_place():
    x = tinycnn.tensor([[1.0, 2.0]])
    assert x.tolist() == [[1.0, 2.0]] and tinycnn.tensor(3).tolist() == 3
    assert x.requires_grad_() is x and x.requires_grad
    (x * x).sum().backward()
    assert x.grad.tolist() == [[2.0, 4.0]]
    assert not x.requires_grad_(False).requires_grad


def test_pytorch_positional_arguments_mean_the_same_and_unsupported_values_are_refused():
    conv = nn.Conv2d(1, 8, 3, 1, 1, 1, 1, False)  # in, out, kernel, stride, padding, dilation, groups, bias
    assert conv.bias is None and conv.padding == (1, 1)
    for make, named in [(lambda: nn.Conv2d(1, 8, 3, 1, 1, 2), "dilation=2"),
                        (lambda: nn.Conv2d(4, 8, 3, groups=4), "groups=4"),
                        (lambda: nn.Conv2d(1, 8, 3, padding_mode="reflect"), "padding_mode='reflect'"),
                        (lambda: nn.MaxPool2d(3, 2, 1), "padding=1"),
                        (lambda: nn.MaxPool2d(2, ceil_mode=True), "ceil_mode=True"),
                        (lambda: nn.AvgPool2d(2, padding=1), "padding=1")]:
        with pytest.raises(ValueError, match=named.replace("(", r"\(")):
            make()
    assert isinstance(nn.ReLU(inplace=True), nn.ReLU) and nn.Dropout(0.1, True).p == 0.1
    x = tinycnn.randn(2, 3, 4, 5)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5) and nn.Flatten()(x).shape == (2, 60)
    assert nn.Linear(3, 2, device="cpu").weight.shape == (2, 3)
