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
    with pytest.raises(KeyError, match=r"missing keys: fc2.bias; unexpected keys: fc3.weight \(strict=False"):
        net.load_state_dict(state)
    before = net.fc1.weight.data.copy()
    state["fc1.weight"] = before + 1.0
    assert net.load_state_dict(state, strict=False) == (["fc2.bias"], ["fc3.weight"])  # as PyTorch: the rest loads
    np.testing.assert_array_equal(net.fc1.weight.data, before + 1.0)
    state = net.state_dict()
    state["conv1.weight"] = np.zeros((16, 1, 5, 5))
    state["fc2.bias"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"conv1.weight has shape \(16, 1, 5, 5\), the model expects \(16, 1, 3, 3\); "
                                         r"fc2.bias has shape \(3,\), the model expects \(10,\)"):
        net.load_state_dict(state, strict=False)  # a wrong shape is an error either way, and every one is named


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


class DrawsAlways(nn.Module):
    """A module of a user's that draws from generators whatever its mode."""

    def __init__(self):
        super().__init__()
        self.generator = np.random.default_rng(9)

    def forward(self, input):
        tinycnn.random.default_generator().random()
        self.generator.random()
        return input


def test_summary_leaves_the_model_as_it_found_it():
    """Its forward runs in eval mode: BatchNorm's statistics, num_batches_tracked, dropout's draws stay untouched."""
    from tinycnn.train import summary
    tinycnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                          nn.Dropout(0.5, generator=np.random.default_rng(1)), DrawsAlways(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 10))
    model[2].eval()  # modes differ between modules: each gets its own back
    modes = [module.training for _, module in model.named_modules()]
    state = model.state_dict()
    generators = [tinycnn.random.default_generator(), model[4].generator, model[5].generator]
    draws = [g.bit_generator.state for g in generators]
    table = summary(model, (1, 8, 8))
    assert "[-1, 4, 6, 6]" in table and "(BatchNorm2d)" in table
    assert [module.training for _, module in model.named_modules()] == modes
    after = model.state_dict()
    assert all(np.array_equal(after[key], value) for key, value in state.items())
    assert int(model[1].num_batches_tracked) == 0
    assert [g.bit_generator.state for g in generators] == draws
    model.eval()
    summary(model, (1, 8, 8))
    assert not any(module.training for _, module in model.named_modules())


# ----- BatchNorm2d, Dropout, buffers ----------------------------------------------------------------


def test_batchnorm_running_statistics_after_k_steps_follow_pytorchs_formula():
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(3).to(np.float64)
    expected_mean, expected_var = np.zeros(3), np.ones(3)
    for _ in range(4):
        x = rng.standard_normal((5, 3, 4, 4)) * 2 + 3
        bn(Tensor(x))
        count = 5 * 4 * 4
        expected_mean = 0.9 * expected_mean + 0.1 * x.mean(axis=(0, 2, 3))
        expected_var = 0.9 * expected_var + 0.1 * x.var(axis=(0, 2, 3)) * count / (count - 1)  # unbiased
    np.testing.assert_allclose(bn.running_mean, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, expected_var, rtol=1e-12)
    assert bn.num_batches_tracked == 4


def test_batchnorm_train_normalises_by_the_batch_and_eval_by_the_running_statistics():
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm2d(2).to(np.float64)
    x = rng.standard_normal((4, 2, 3, 3)) * 5 + 2
    out = bn(Tensor(x)).data
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-5)  # eps=1e-5 keeps it just below 1
    bn.eval()
    before = (bn.running_mean.copy(), bn.running_var.copy(), int(bn.num_batches_tracked))
    out = bn(Tensor(x)).data
    np.testing.assert_allclose(out, (x - before[0][None, :, None, None]) / np.sqrt(before[1][None, :, None, None]
                                                                                   + 1e-5), rtol=1e-12)
    assert np.array_equal(bn.running_mean, before[0]) and int(bn.num_batches_tracked) == before[2]  # eval: untouched


def test_batchnorm_with_momentum_none_keeps_the_plain_average():
    rng = np.random.default_rng(2)
    bn = nn.BatchNorm2d(1, momentum=None).to(np.float64)
    batches = [rng.standard_normal((3, 1, 2, 2)) + i for i in range(3)]
    for x in batches:
        bn(Tensor(x))
    np.testing.assert_allclose(bn.running_mean, np.mean([x.mean() for x in batches]), rtol=1e-12)


def test_buffers_are_in_state_dict_load_state_dict_and_to():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2))
    assert list(model.state_dict()) == ["0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                        "1.num_batches_tracked"]  # PyTorch's names and order
    model(Tensor(np.random.default_rng(3).standard_normal((2, 1, 5, 5)).astype(np.float32)))
    state = model.state_dict()
    other = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2))
    other.load_state_dict(state)
    for key, value in other.state_dict().items():
        assert np.array_equal(value, state[key]) and value.dtype == state[key].dtype, key
    other.to(np.float64)
    assert other[1].running_mean.dtype == np.float64 and other[1].num_batches_tracked.dtype == np.int64
    with pytest.raises(ValueError, match=r"1.running_var has shape \(3,\), the model expects \(2,\)"):
        other.load_state_dict(dict(state, **{"1.running_var": np.ones(3)}))


def test_dropout_is_seeded_scaled_and_off_in_eval():
    x = Tensor(np.ones((64, 50), dtype=np.float32))
    layer = nn.Dropout(0.2)
    tinycnn.manual_seed(5)
    first = layer(x).data
    tinycnn.manual_seed(5)
    assert np.array_equal(layer(x).data, first)  # same seed, same mask
    assert set(np.unique(first)) == {0.0, np.float32(1.25)}  # kept values scaled by 1 / (1 - p)
    assert abs((first == 0).mean() - 0.2) < 0.02  # about p of them dropped
    assert not np.array_equal(layer(x).data, first)  # the next call draws a new mask
    layer.eval()
    assert layer(x) is x


def test_dropout2d_drops_whole_channels():
    tinycnn.manual_seed(0)
    out = nn.Dropout2d(0.5)(Tensor(np.ones((8, 6, 3, 3)))).data
    per_plane = out.reshape(48, 9)
    assert np.all(per_plane == per_plane[:, :1]) and set(np.unique(out)) == {0.0, 2.0}


def test_dropout_refuses_a_probability_outside_0_1():
    with pytest.raises(ValueError, match=r"dropout: p is a probability and must lie in \[0, 1\], got 1.5"):
        F.dropout(Tensor(np.ones(3)), 1.5)


def test_batch_norm_refuses_wrong_shapes_with_the_op():
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\)"):
        F.batch_norm(Tensor(np.ones((2, 3, 2, 2))), None, None, Tensor(np.ones(4)), training=True)
    with pytest.raises(ValueError, match="batch_norm: training needs more than one value per channel"):
        F.batch_norm(Tensor(np.ones((1, 3, 1, 1))), None, None, training=True)


# ----- Conv2d's arguments, as PyTorch takes them -------------------------------------------------------


def test_conv2d_takes_pytorchs_pairs_and_padding_strings():
    assert nn.Conv2d(1, 8, (3, 3)).weight.shape == (8, 1, 3, 3)
    conv = nn.Conv2d(2, 4, (3, 5), stride=(2, 2), padding=(1, 1))
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 5), (2, 2), (1, 1))  # as PyTorch keeps them
    assert conv.weight.shape == (4, 2, 3, 5) and np.abs(conv.weight.data).max() <= 1 / np.sqrt(2 * 3 * 5)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 2, 9, 10)).astype(np.float32))
    assert conv(x).shape == (2, 4, 5, 4)
    same = nn.Conv2d(2, 4, 5, padding="same")
    assert same.padding == "same" and same(x).shape == (2, 4, 9, 10)
    assert nn.Conv2d(2, 4, 3, padding="valid")(x).shape == (2, 4, 7, 8)
    assert "kernel_size=(3, 5), stride=(2, 2), padding=(1, 1)" in repr(conv)
    square = nn.Conv2d(1, 16, 3, generator=np.random.default_rng(5))  # an int makes the same layer as before
    np.testing.assert_array_equal(square.weight.data,
                                  np.random.default_rng(5).uniform(-1 / 3, 1 / 3, (16, 1, 3, 3)).astype(np.float32))


@pytest.mark.parametrize("options, message", [
    (dict(kernel_size=3, stride=(1, 2)), r"stride \(1, 2\): tinycnn's kernels take one stride for both axes; pass an "
                                         r"int or an equal pair"),
    (dict(kernel_size=3, padding=(0, 1)), r"padding \(0, 1\): tinycnn's kernels take the same padding on every side"),
    (dict(kernel_size=3, padding="same", stride=2), r"padding='same' needs stride 1 .*got stride 2; pass an int "
                                                    r"padding"),
    (dict(kernel_size=4, padding="same"), r"padding='same' with the kernel 4x4: an even size needs more padding after "
                                          r"than before .*use an odd kernel_size"),
    (dict(kernel_size=(3, 5), padding="same"), r"padding='same' with the kernel 3x5 needs padding 1 on the rows and 2 "
                                               r"on the columns"),
    (dict(kernel_size=3, padding="full"), r"padding must be an int, a pair of equal ints, 'same' or 'valid', got "
                                          r"'full'"),
    (dict(kernel_size=(3, 3, 3)), r"kernel_size must be an int >= 1 or a pair of them, got \(3, 3, 3\)"),
    (dict(kernel_size=0), r"kernel_size must be an int >= 1"),
    (dict(kernel_size=3, stride=0), r"stride must be >= 1"),
])
def test_conv2d_refuses_what_the_kernels_cannot_do_when_the_layer_is_made(options, message):
    with pytest.raises(ValueError, match=rf"^Conv2d: {message}"):
        nn.Conv2d(1, 8, **options)


def test_functional_conv2d_takes_the_same_arguments():
    x, w = Tensor(np.ones((1, 1, 6, 6))), Tensor(np.ones((2, 1, 3, 3)))
    assert F.conv2d(x, w, stride=(2, 2), padding=(1, 1)).shape == (1, 2, 3, 3)
    assert F.conv2d(x, w, padding="same").shape == (1, 2, 6, 6)
    assert F.conv2d(x, w, padding="valid").shape == (1, 2, 4, 4)
    with pytest.raises(ValueError, match=r"conv2d: padding='same' needs stride 1"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"max_pool2d: kernel_size \(2, 3\): tinycnn's kernels take square windows"):
        F.max_pool2d(x, (2, 3))
    with pytest.raises(TypeError, match=r"conv2d: stride must be an int or a pair of equal ints, got 1.5"):
        F.conv2d(x, w, stride=1.5)


@pytest.mark.parametrize("kernel_size, stride, padding", [((3, 3), (1, 1), "same"), (5, 1, "same"), ((3, 5), 2, 1),
                                                          ((2, 3), (1, 1), "valid"), (3, (2, 2), (2, 2))])
def test_conv2d_layer_equals_torchs_given_the_same_arguments(kernel_size, stride, padding):
    torch = pytest.importorskip("torch")
    ours = nn.Conv2d(3, 4, kernel_size, stride, padding, generator=np.random.default_rng(0)).to(np.float64)
    theirs = torch.nn.Conv2d(3, 4, kernel_size, stride, padding).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    assert tuple(theirs.kernel_size) == ours.kernel_size and tuple(theirs.stride) == ours.stride
    assert (theirs.padding if isinstance(theirs.padding, str) else tuple(theirs.padding)) == ours.padding
    x = np.random.default_rng(1).standard_normal((2, 3, 11, 12))
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)
