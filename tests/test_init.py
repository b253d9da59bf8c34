"""nn.init: each initialisation fills in place, draws from the generator given, and has the bounds or the standard
deviation of PyTorch's formula (its fans and gains checked against PyTorch's own functions)."""

import math

import numpy as np
import pytest

import tinycnn
from tinycnn import nn
from tinycnn.nn import Parameter, init

SHAPES = [(64, 32), (32, 16, 3, 3), (16, 8, 5), (8, 4, 3, 2, 2)]


def _fans(shape):
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _std_tolerance(shape):
    """Four standard errors of a sample standard deviation over the values of ``shape``, relative: 4 / sqrt(2n)."""
    return 4 / math.sqrt(2 * math.prod(shape))


def _parameter(shape, dtype=np.float32):
    return Parameter(np.full(shape, np.nan, dtype=dtype))


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_and_gains_are_torchs(shape):
    torch = pytest.importorskip("torch")
    assert init._calculate_fan_in_and_fan_out(_parameter(shape)) == torch.nn.init._calculate_fan_in_and_fan_out(
        torch.empty(shape)) == _fans(shape)
    for nonlinearity, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                ("relu", None), ("selu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                                ("leaky_relu", math.sqrt(5))]:
        assert init.calculate_gain(nonlinearity, param) == pytest.approx(
            torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("a, nonlinearity", [(0, "relu"), (math.sqrt(5), "leaky_relu"), (0.1, "leaky_relu"),
                                             (0, "tanh")])
def test_kaiming_bounds_and_std_follow_the_formula(shape, mode, a, nonlinearity):
    fan = _fans(shape)[mode == "fan_out"]
    gain = math.sqrt(2.0 / (1 + a**2)) if nonlinearity == "leaky_relu" else {"relu": math.sqrt(2), "tanh": 5 / 3}[
        nonlinearity]
    bound = gain * math.sqrt(3.0 / fan)
    w = init.kaiming_uniform_(_parameter(shape), a=a, mode=mode, nonlinearity=nonlinearity,
                              generator=np.random.default_rng(0))
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.97 * bound
    assert w.data.std() == pytest.approx(bound / math.sqrt(3), rel=_std_tolerance(shape))  # the uniform's std
    w = init.kaiming_normal_(_parameter(shape), a=a, mode=mode, nonlinearity=nonlinearity,
                             generator=np.random.default_rng(0))
    assert w.data.std() == pytest.approx(gain / math.sqrt(fan), rel=_std_tolerance(shape))
    assert abs(w.data.mean()) < 4 * gain / math.sqrt(fan) / math.sqrt(math.prod(shape))  # four standard errors
    expected = np.random.default_rng(0).normal(0.0, gain / math.sqrt(fan), shape).astype(np.float32)
    np.testing.assert_array_equal(w.data, expected)  # the formula's std exactly: the same draws, scaled by it


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
def test_xavier_bounds_and_std_follow_the_formula(shape, gain):
    fan_in, fan_out = _fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    w = init.xavier_uniform_(_parameter(shape), gain=gain, generator=np.random.default_rng(1))
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.97 * bound
    w = init.xavier_normal_(_parameter(shape), gain=gain, generator=np.random.default_rng(1))
    assert w.data.std() == pytest.approx(gain * math.sqrt(2.0 / (fan_in + fan_out)), rel=_std_tolerance(shape))
    expected = np.random.default_rng(1).normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), shape)
    np.testing.assert_array_equal(w.data, expected.astype(np.float32))


def test_the_kaiming_uniform_torch_gives_its_layers_is_their_default_bound():
    """PyTorch's Conv2d starts with kaiming_uniform_(a=sqrt(5)): uniform in +-1/sqrt(fan_in), as nn.Conv2d here."""
    conv = nn.Conv2d(16, 32, 3, generator=np.random.default_rng(0))
    w = init.kaiming_uniform_(_parameter(conv.weight.shape), a=math.sqrt(5), generator=np.random.default_rng(0))
    np.testing.assert_allclose(w.data, conv.weight.data, rtol=1e-6)  # the same draws, the same bound


def test_plain_fills_and_draws():
    w = _parameter((300, 200), np.float64)
    assert init.uniform_(w, -2.0, 3.0, generator=np.random.default_rng(0)) is w
    assert w.data.min() >= -2.0 and w.data.max() < 3.0 and w.data.mean() == pytest.approx(0.5, abs=0.02)
    init.normal_(w, mean=1.5, std=0.5, generator=np.random.default_rng(0))
    assert w.data.mean() == pytest.approx(1.5, abs=0.01) and w.data.std() == pytest.approx(0.5, rel=0.01)
    for fill, value in ((init.zeros_, 0.0), (init.ones_, 1.0), (lambda t: init.constant_(t, 0.25), 0.25)):
        assert fill(w) is w
        np.testing.assert_array_equal(w.data, np.full((300, 200), value))


def test_fills_are_in_place_and_keep_the_dtype():
    layer = nn.Linear(4, 3)
    weight_array = layer.weight.data
    init.xavier_normal_(layer.weight)
    init.zeros_(layer.bias)
    assert layer.weight.data is weight_array and layer.weight.dtype == np.float32 and not layer.bias.data.any()


def test_the_default_generator_is_tinycnns_seeded_one():
    draws = []
    for _ in range(2):
        tinycnn.manual_seed(3)
        draws.append(init.kaiming_normal_(_parameter((5, 4))).data.copy())
    np.testing.assert_array_equal(*draws)
    assert not np.array_equal(draws[0], init.kaiming_normal_(_parameter((5, 4))).data)


def test_the_scaled_ones_name_the_shape_they_cannot_use():
    with pytest.raises(ValueError, match=r"fan in and fan out cannot be computed for a tensor of shape \(5,\)"):
        init.xavier_uniform_(_parameter((5,)))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_uniform_(_parameter((5, 4)), mode="fan_avg")
    with pytest.raises(ValueError, match="calculate_gain: unknown nonlinearity 'gelu'"):
        init.kaiming_normal_(_parameter((5, 4)), nonlinearity="gelu")
    with pytest.raises(TypeError, match="zeros_: fills a tinycnn Tensor .a Parameter. in place, got ndarray"):
        init.zeros_(np.zeros(3))
    with pytest.warns(UserWarning, match="kaiming_uniform_: initializing a zero-element tensor"):
        init.kaiming_uniform_(_parameter((0, 4)))


def test_torchs_import_lines_work_with_the_package_renamed():
    import tinycnn.nn.init as imported
    from tinycnn.nn.init import kaiming_uniform_
    from tinycnn.nn.utils import clip_grad_norm_
    assert imported is nn.init is init and kaiming_uniform_ is init.kaiming_uniform_
    assert clip_grad_norm_ is nn.utils.clip_grad_norm_
