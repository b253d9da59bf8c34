"""RMSprop, and the options PyTorch users pass (SGD's dampening, Adam's amsgrad, maximize): by hand, against torch,
with two parameter groups, through a checkpoint."""

import numpy as np
import pytest

import tinycnn
from tinycnn import optim
from tinycnn.nn import Parameter

SHAPES = [(3,), (2, 2), (1,)]  # two weights in the first group, a bias in the second
STEPS = 25


def gradients(seed=0, dtype=np.float64):
    """STEPS steps of gradients, one array per parameter (of SHAPES), some steps large, some tiny."""
    rng = np.random.default_rng(seed)
    return [[(rng.standard_normal(shape) * rng.choice([1e-3, 1.0, 30.0])).astype(dtype) for shape in SHAPES]
            for _ in range(STEPS)]


def starting_values(dtype=np.float64):
    rng = np.random.default_rng(100)
    return [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]


def ours_with_groups(name, second_group, defaults, dtype=np.float64):
    """(parameters, optimizer) of tinycnn, two groups: the first takes the defaults, the second ``second_group``."""
    params = [Parameter(value) for value in starting_values(dtype)]
    groups = [{"params": params[:2]}, dict(second_group, params=params[2:])]
    return params, getattr(optim, name)(groups, **defaults)


def theirs_with_groups(torch, name, second_group, defaults):
    params = [torch.nn.Parameter(torch.tensor(value)) for value in starting_values()]
    groups = [{"params": params[:2]}, dict(second_group, params=params[2:])]
    return params, getattr(torch.optim, name)(groups, **defaults)


def step(optimizer, params, grads, torch=None):
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g) if torch else g.copy()
    optimizer.step()


CASES = [
    ("RMSprop", {}, {}),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1), dict(lr=0.003, weight_decay=0.0)),
    ("RMSprop", dict(lr=0.01, momentum=0.9), dict(lr=0.05, momentum=0.5)),
    ("RMSprop", dict(lr=0.01, centered=True, weight_decay=0.01), dict(lr=0.05, alpha=0.3)),  # alpha < 0.5: lerp's
    ("RMSprop", dict(lr=0.02, momentum=0.8, centered=True, maximize=True), dict(centered=False)),  # other form
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01), dict(lr=0.1, dampening=0.0)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True), dict(lr=0.1, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01), dict(lr=0.05, amsgrad=False)),
    ("Adam", dict(lr=0.01, maximize=True), dict(lr=0.05, amsgrad=True)),
    ("AdamW", dict(lr=0.01, amsgrad=True), dict(lr=0.05, weight_decay=0.0, maximize=True)),
]


@pytest.mark.parametrize("name, defaults, second_group", CASES)
def test_every_step_equals_torchs_with_two_groups(name, defaults, second_group):
    torch = pytest.importorskip("torch")
    ours_params, ours = ours_with_groups(name, second_group, defaults)
    theirs_params, theirs = theirs_with_groups(torch, name, second_group, defaults)
    for grads in gradients():
        step(ours, ours_params, grads)
        step(theirs, theirs_params, grads, torch)
        for p, tp in zip(ours_params, theirs_params):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-13, atol=1e-15)
    for state, torch_state in zip(ours.state_dict()["state"].values(), theirs.state_dict()["state"].values()):
        assert set(state) == set(torch_state)  # PyTorch's names for what a parameter's state holds
        for key, value in state.items():
            np.testing.assert_allclose(value, torch_state[key].numpy(), rtol=1e-12, atol=1e-15)
    for group, torch_group in zip(ours.param_groups, theirs.param_groups):
        settings = {key: value for key, value in group.items() if key != "params"}
        assert settings == {key: torch_group[key] for key in settings}


def test_rmsprop_by_hand():
    """Two steps of centred RMSprop with momentum and weight decay, from the published update."""
    p = Parameter(np.array([1.0, -2.0]))
    rmsprop = optim.RMSprop([p], lr=0.1, alpha=0.9, eps=1e-8, weight_decay=0.5, momentum=0.5, centered=True)
    expected, v, m, buf = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2), np.zeros(2)
    for g in ([0.5, 0.25], [-1.0, 2.0]):
        p.grad = np.array(g)
        rmsprop.step()
        g = np.array(g) + 0.5 * expected
        v = 0.9 * v + 0.1 * g * g
        m = 0.9 * m + 0.1 * g
        buf = 0.5 * buf + g / (np.sqrt(v - m * m) + 1e-8)
        expected = expected - 0.1 * buf
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)
    # the first plain step: v = (1 - alpha) g^2, so each coordinate moves by lr / sqrt(1 - alpha), whatever g's size
    q = Parameter(np.array([0.0, 0.0]))
    plain = optim.RMSprop([q], lr=0.01)
    q.grad = np.array([1e-3, -50.0])
    plain.step()
    np.testing.assert_allclose(q.data, [-0.1, 0.1], rtol=1e-4)


def test_sgd_dampening_by_hand():
    """Dampening scales the gradient entering the buffer, but not the first one, which is the buffer."""
    p = Parameter(np.array([1.0]))
    sgd = optim.SGD([p], lr=0.5, momentum=0.5, dampening=0.5)
    for g in ([2.0], [1.0]):
        p.grad = np.array(g)
        sgd.step()
    # step 1: buf = 2, p = 1 - 1 = 0; step 2: buf = 0.5*2 + 0.5*1 = 1.5, p = 0 - 0.75
    np.testing.assert_allclose(p.data, [-0.75])


def test_amsgrad_keeps_the_largest_second_moment_by_hand():
    p = Parameter(np.array([0.0]))
    adam = optim.Adam([p], lr=0.1, amsgrad=True)
    expected, m, v, v_max = 0.0, 0.0, 0.0, 0.0
    for t, g in enumerate([10.0, 0.1, 0.1], start=1):
        p.grad = np.array([g])
        adam.step()
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        v_max = max(v_max, v)
        expected -= 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v_max / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(p.data, [expected], rtol=1e-12)
    assert adam.state[id(p)]["max_exp_avg_sq"][0] == pytest.approx(0.001 * 100)  # the first, large gradient's


def test_maximize_climbs():
    p = Parameter(np.array([1.0]))
    sgd = optim.SGD([p], lr=0.1, maximize=True)
    p.grad = np.array([2.0])
    sgd.step()
    assert p.data[0] == pytest.approx(1.2)


@pytest.mark.parametrize("name, defaults", [
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("SGD", dict(lr=0.01, momentum=0.9, dampening=0.1)),
])
def test_a_resumed_optimizer_continues_bit_for_bit(name, defaults, tmp_path):
    grads = gradients(1)
    params, first = ours_with_groups(name, dict(lr=0.003), defaults)
    for step_grads in grads[:10]:
        step(first, params, step_grads)
    tinycnn.save({"optimizer": first.state_dict(), "params": [p.data for p in params]}, tmp_path / "c.npz")
    saved = tinycnn.load(tmp_path / "c.npz")
    again, second = ours_with_groups(name, {}, dict(lr=0.5))  # the saved hyper-parameters win
    for p, data in zip(again, saved["params"]):
        p.data = data.copy()
    second.load_state_dict(saved["optimizer"])
    assert [g["lr"] for g in second.param_groups] == [0.01, 0.003]
    for step_grads in grads[10:]:
        step(first, params, step_grads)
        step(second, again, step_grads)
    for p, q in zip(params, again):
        assert np.array_equal(p.data, q.data)


def test_rmsprop_keeps_float32_parameters_float32():
    params, rmsprop = ours_with_groups("RMSprop", {}, dict(momentum=0.9, centered=True), dtype=np.float32)
    for step_grads in gradients(2, np.float32)[:3]:
        step(rmsprop, params, step_grads)
    assert all(p.dtype == np.float32 for p in params)
    assert all(v.dtype == np.float32 for state in rmsprop.state.values() for v in state.values()
               if isinstance(v, np.ndarray))


def test_one_cycle_cycles_rmsprops_momentum_as_torchs():
    torch = pytest.importorskip("torch")
    ours_params, ours = ours_with_groups("RMSprop", dict(lr=0.003), dict(momentum=0.9))
    theirs_params, theirs = theirs_with_groups(torch, "RMSprop", dict(lr=0.003), dict(momentum=0.9))
    ours_schedule = optim.lr_scheduler.OneCycleLR(ours, max_lr=[0.1, 0.01], total_steps=STEPS)
    theirs_schedule = torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=[0.1, 0.01], total_steps=STEPS)
    for grads in gradients(3):
        step(ours, ours_params, grads)
        step(theirs, theirs_params, grads, torch)
        ours_schedule.step()
        theirs_schedule.step()
        assert [g["momentum"] for g in ours.param_groups] == pytest.approx(
            [g["momentum"] for g in theirs.param_groups], rel=1e-12)
    for p, tp in zip(ours_params, theirs_params):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-15)


def test_options_that_cannot_work_are_refused_with_what_to_do():
    p = Parameter(np.zeros(1))
    with pytest.raises(ValueError, match=r"SGD: nesterov momentum requires momentum > 0 and dampening = 0, got "
                                         r"momentum=0.9, dampening=0.1"):
        optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"SGD: nesterov .* \(in parameter group 1\)"):
        optim.SGD([{"params": [p]}, {"params": [Parameter(np.zeros(1))], "dampening": 0.5}], momentum=0.9,
                  nesterov=True)
    for key in ("lr", "alpha", "eps", "momentum", "weight_decay"):
        with pytest.raises(ValueError, match=rf"RMSprop: {key} must be a finite number >= 0, got -1"):
            optim.RMSprop([p], **{key: -1})
    with pytest.raises(TypeError, match="fused"):
        optim.Adam([p], fused=True)  # PyTorch's speed switches are not taken: Python names the argument
