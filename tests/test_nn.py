"""Modules: structure, names, state dicts, initialisation, the study's parameter counts."""

import numpy as np
import pytest

import tinycnn
import tinycnn.functional as F
from models import BaselineNet, MinimalNet, ReducedNet
from tinycnn import Tensor, nn


@pytest.mark.parametrize("model, count", [(BaselineNet, 593_200), (ReducedNet, 61_461), (MinimalNet, 24_245)])
def test_the_study_models_have_its_parameter_counts(model, count):
    net = model()
    assert net.num_parameters() == count
    assert net(Tensor(np.zeros((2, 1, 28, 28), dtype=np.float32))).shape == (2, 10)


def test_named_parameters_and_state_dict_use_dotted_names():
    net = MinimalNet()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                     "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    state = net.state_dict()
    assert state["conv1.weight"].shape == (16, 1, 3, 3)
    state["conv1.weight"][:] = 0  # a copy: the model is untouched
    assert np.any(net.conv1.weight.data != 0)


def test_load_state_dict_round_trip_keeps_dtype():
    a, b = MinimalNet(generator=np.random.default_rng(1)), MinimalNet(generator=np.random.default_rng(2))
    state = {k: v.astype(np.float64) for k, v in a.state_dict().items()}
    b.load_state_dict(state)
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert pb.dtype == np.float32
        np.testing.assert_array_equal(pa.data, pb.data)


def test_load_state_dict_names_missing_unexpected_and_misshapen_keys():
    net = MinimalNet()
    state = net.state_dict()
    del state["fc2.bias"]
    state["fc3.weight"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['fc2.bias'\], unexpected keys \['fc3.weight'\]"):
        net.load_state_dict(state)
    state = net.state_dict()
    state["conv1.weight"] = np.zeros((16, 1, 5, 5))
    with pytest.raises(ValueError, match=r"conv1.weight has shape \(16, 1, 5, 5\), the model expects \(16, 1, 3, 3\)"):
        net.load_state_dict(state)


def test_default_init_is_uniform_within_one_over_sqrt_fan_in():
    conv = nn.Conv2d(16, 32, 3, generator=np.random.default_rng(0))
    bound = 1 / np.sqrt(16 * 9)
    for p in (conv.weight.data, conv.bias.data):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.95 * bound  # uses the whole range
    assert conv.weight.data.std() == pytest.approx(bound / np.sqrt(3), rel=0.05)  # std of U(-a, a)
    linear = nn.Linear(288, 65, generator=np.random.default_rng(0))
    assert np.abs(linear.weight.data).max() <= 1 / np.sqrt(288)
    assert linear.weight.shape == (65, 288)


def test_init_is_reproducible_from_the_seed():
    tinycnn.manual_seed(3)
    first = MinimalNet().state_dict()
    tinycnn.manual_seed(3)
    second = MinimalNet().state_dict()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    third = MinimalNet(generator=np.random.default_rng(4)).state_dict()
    assert not np.array_equal(first["fc1.weight"], third["fc1.weight"])


def test_sequential_names_layers_by_index_and_matches_the_functional_form():
    rng = np.random.default_rng(0)
    seq = nn.Sequential(nn.Conv2d(1, 4, 3, generator=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 13 * 13, 10, generator=rng), nn.LogSoftmax(dim=1))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "4.weight", "4.bias"]
    x = Tensor(rng.standard_normal((2, 1, 28, 28)).astype(np.float32))
    by_hand = F.log_softmax(seq[4](F.flatten(F.max_pool2d(F.relu(seq[0](x)), 2))), dim=1)
    np.testing.assert_array_equal(seq(x).data, by_hand.data)


def test_train_and_eval_modes_reach_every_submodule():
    net = MinimalNet().eval()
    assert not net.training and not net.conv1.training
    net.train()
    assert net.fc2.training


def test_summary_lists_layers_with_output_shapes_and_counts():
    from tinycnn.train import summary
    table = summary(MinimalNet(), (1, 28, 28))
    assert "conv1 (Conv2d)" in table and "[-1, 16, 26, 26]" in table
    assert "[-1, 32, 11, 11]" in table and "18,785" in table
    assert "Total params: 24,245" in table
