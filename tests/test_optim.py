"""Optimizers against updates computed by hand from their published formulas."""

import numpy as np
import pytest

from tinycnn import Tensor, optim
from tinycnn.nn import Parameter


def run_steps(optimizer, param, grads):
    for g in grads:
        param.grad = np.array(g, dtype=param.dtype)
        optimizer.step()
    return param.data


def test_sgd_momentum_with_weight_decay_by_hand():
    p = Parameter(np.array([1.0, -2.0]))
    sgd = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    grads = [[0.5, 0.5], [-1.0, 2.0], [0.0, 1.0]]
    expected, buf = np.array([1.0, -2.0]), None
    for g in grads:
        d = np.array(g) + 0.01 * expected
        buf = d if buf is None else 0.9 * buf + d
        expected = expected - 0.1 * buf
    np.testing.assert_allclose(run_steps(sgd, p, grads), expected, rtol=1e-12)
    # step 1: d = [0.51, 0.48], p = [0.949, -2.048], written out to be sure of the formula
    q = Parameter(np.array([1.0, -2.0]))
    np.testing.assert_allclose(run_steps(optim.SGD([q], lr=0.1, momentum=0.9, weight_decay=0.01), q, grads[:1]),
                               [0.949, -2.048], rtol=1e-12)


def test_sgd_nesterov_by_hand():
    p = Parameter(np.array([1.0]))
    sgd = optim.SGD([p], lr=0.5, momentum=0.5, nesterov=True)
    # step 1: buf = 2, g = 2 + 0.5*2 = 3, p = 1 - 1.5 = -0.5
    # step 2: buf = 0.5*2 + 1 = 2, g = 1 + 0.5*2 = 2, p = -0.5 - 1 = -1.5
    np.testing.assert_allclose(run_steps(sgd, p, [[2.0], [1.0]]), [-1.5])


def test_plain_sgd_and_parameters_without_gradient():
    p, q = Parameter(np.array([1.0])), Parameter(np.array([5.0]))
    sgd = optim.SGD([p, q], lr=0.1)
    p.grad = np.array([2.0])
    sgd.step()
    assert p.data[0] == pytest.approx(0.8) and q.data[0] == 5.0  # q had no gradient: untouched
    sgd.zero_grad()
    assert p.grad is None


def test_adam_with_l2_weight_decay_by_hand():
    p = Parameter(np.array([0.5, -1.0]))
    adam = optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4)
    grads = [[0.1, -0.2], [0.3, 0.0], [-0.2, 0.1]]
    expected, m, v = np.array([0.5, -1.0]), np.zeros(2), np.zeros(2)
    for t, g in enumerate(grads, start=1):
        g = np.array(g) + 1e-4 * expected  # L2: the decay joins the gradient before the moments
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        expected = expected - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(run_steps(adam, p, grads), expected, rtol=1e-10)
    # the first Adam step moves each coordinate by about lr, whatever the gradient's size
    q = Parameter(np.array([0.0, 0.0]))
    np.testing.assert_allclose(run_steps(optim.Adam([q], lr=0.01), q, [[1e-3, -50.0]]), [-0.01, 0.01], rtol=1e-4)


def test_adam_keeps_float32_parameters_float32():
    p = Parameter(np.ones(3, dtype=np.float32))
    run_steps(optim.Adam([p], lr=0.1, weight_decay=0.1), p, [np.ones(3)] * 2)
    assert p.dtype == np.float32


def test_step_lr_multiplies_every_step_size_epochs():
    sgd = optim.SGD([Parameter(np.zeros(1))], lr=1.0)
    scheduler = optim.lr_scheduler.StepLR(sgd, step_size=2, gamma=0.1)
    lrs = []
    for _ in range(5):
        scheduler.step()
        lrs.append(sgd.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [1.0, 0.1, 0.1, 0.01, 0.01])


def test_bad_hyper_parameters_are_refused():
    for lr in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
            optim.SGD([Parameter(np.zeros(1))], lr=lr)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([Parameter(np.zeros(1))], betas=(1.0, 0.9))


def test_an_optimizer_reduces_a_quadratic():
    target = np.array([3.0, -1.0])
    for make in (lambda p: optim.SGD([p], lr=0.1, momentum=0.9), lambda p: optim.Adam([p], lr=0.1)):
        p = Parameter(np.zeros(2))
        opt = make(p)
        for _ in range(300):
            opt.zero_grad()
            diff = p - Tensor(target)
            (diff * diff).sum().backward()
            opt.step()
        np.testing.assert_allclose(p.data, target, atol=1e-2)


def test_adamw_decays_the_weight_itself_by_hand():
    p = Parameter(np.array([1.0, -2.0]))
    adamw = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    grads = [[0.5, 0.5], [-1.0, 2.0], [0.0, 1.0]]
    expected, m, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    for t, g in enumerate(grads, start=1):
        g = np.array(g)
        expected = expected * (1 - 0.1 * 0.5)  # decoupled: the weight shrinks, the gradient is untouched
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        expected = expected - 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(run_steps(adamw, p, grads), expected, rtol=1e-10)
    assert optim.AdamW([Parameter(np.zeros(1))]).param_groups[0]["weight_decay"] == 0.01  # PyTorch's default


def test_adamw_and_adam_match_torch():
    torch = pytest.importorskip("torch")
    for ours_class, torch_class in ((optim.Adam, torch.optim.Adam), (optim.AdamW, torch.optim.AdamW)):
        p = Parameter(np.array([1.0, -2.0, 0.001]))
        tp = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.001], dtype=torch.float64))
        ours = ours_class([p], lr=0.05, weight_decay=0.1)
        theirs = torch_class([tp], lr=0.05, weight_decay=0.1)
        for g in ([0.5, 0.5, 0.0], [-1.0, 2.0, 1e-4], [0.0, 1.0, 0.0]):
            p.grad, tp.grad = np.array(g), torch.tensor(g, dtype=torch.float64)
            ours.step()
            theirs.step()
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, err_msg=ours_class.__name__)


# ----- parameter groups, as PyTorch's -------------------------------------------------------------------


def two_groups(make, **defaults):
    """(weights, biases, optimizer) with PyTorch's two usual groups: the weights decayed, the biases not, at 2x lr."""
    weights = [Parameter(np.array([1.0, -2.0])), Parameter(np.array([[0.5, 0.25]]))]
    biases = [Parameter(np.array([0.3]))]
    optimizer = make([{"params": weights}, {"params": biases, "lr": 0.2, "weight_decay": 0.0}], **defaults)
    return weights, biases, optimizer


GRADIENTS = [[[0.5, 0.5], [[-1.0, 2.0]], [0.25]],  # per step: the gradients of the two weights and the bias
             [[-1.0, 2.0], [[0.0, 1.0]], [-0.5]],
             [[0.0, 1.0], [[1.0, 1.0]], [1.0]]]


def test_groups_are_dicts_with_the_constructors_defaults_filled_in():
    weights, biases, sgd = two_groups(optim.SGD, lr=0.1, momentum=0.9, weight_decay=0.01)
    assert [len(group["params"]) for group in sgd.param_groups] == [2, 1]
    assert {k: v for k, v in sgd.param_groups[0].items() if k != "params"} == dict(
        lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.01, nesterov=False, maximize=False)
    assert {k: v for k, v in sgd.param_groups[1].items() if k != "params"} == dict(
        lr=0.2, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)
    for p, g in zip(weights + biases, GRADIENTS[0]):
        p.grad = np.array(g)
    sgd.zero_grad()  # failed with 'dict' object has no attribute 'grad'
    assert all(p.grad is None for p in weights + biases)
    extra = Parameter(np.zeros(3))
    sgd.add_param_group({"params": extra, "momentum": 0.5})  # one tensor, as PyTorch takes it
    assert sgd.param_groups[2]["params"] == [extra] and sgd.param_groups[2]["lr"] == 0.1
    assert optim.SGD([Parameter(np.zeros(1))]).param_groups[0]["lr"] == 1e-3  # PyTorch 2's default


def test_each_group_steps_with_its_own_hyper_parameters_by_hand():
    weights, biases, sgd = two_groups(optim.SGD, lr=0.1, weight_decay=0.01)
    start = [p.data.copy() for p in weights + biases]
    for p, g in zip(weights + biases, GRADIENTS[0]):
        p.grad = np.array(g)
    sgd.step()
    for p, before, g, lr, decay in zip(weights + biases, start, GRADIENTS[0], (0.1, 0.1, 0.2), (0.01, 0.01, 0.0)):
        np.testing.assert_allclose(p.data, before - lr * (np.array(g) + decay * before), rtol=1e-12)


@pytest.mark.parametrize("name, defaults", [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.5)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, betas=(0.8, 0.99))),
    ("AdamW", dict(lr=0.05, weight_decay=0.1)),
])
def test_groups_step_as_torchs(name, defaults):
    torch = pytest.importorskip("torch")
    weights, biases, ours = two_groups(getattr(optim, name), **defaults)
    mine = weights + biases
    theirs_params = [torch.nn.Parameter(torch.tensor(p.data.copy())) for p in mine]
    theirs = getattr(torch.optim, name)([{"params": theirs_params[:2]},
                                         {"params": theirs_params[2:], "lr": 0.2, "weight_decay": 0.0}], **defaults)
    for step in GRADIENTS:
        for p, tp, g in zip(mine, theirs_params, step):
            p.grad, tp.grad = np.array(g), torch.tensor(g, dtype=torch.float64)
        ours.step()
        theirs.step()
    for p, tp in zip(mine, theirs_params):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-15)
    ours_groups = [{k: v for k, v in g.items() if k in defaults or k == "params"}
                   for g in ours.state_dict()["param_groups"]]
    theirs_groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items() if k in defaults or k == "params"}
                     for g in theirs.state_dict()["param_groups"]]
    assert ours_groups == theirs_groups  # the same indices across the groups, the same hyper-parameters


def test_a_resumed_optimizer_with_groups_continues_bit_for_bit(tmp_path):
    import tinycnn
    weights, biases, first = two_groups(optim.AdamW, lr=0.05)
    for p, g in zip(weights + biases, GRADIENTS[0]):
        p.grad = np.array(g)
    first.step()
    tinycnn.save({"optimizer": first.state_dict(), "params": [p.data for p in weights + biases]}, tmp_path / "c.npz")
    saved = tinycnn.load(tmp_path / "c.npz")
    again_weights, again_biases, second = two_groups(optim.AdamW, lr=0.9)  # the saved hyper-parameters win
    for p, data in zip(again_weights + again_biases, saved["params"]):
        p.data = data.copy()
    second.load_state_dict(saved["optimizer"])
    assert [g["lr"] for g in second.param_groups] == [0.05, 0.2]
    for step in GRADIENTS[1:]:
        for p, q, g in zip(weights + biases, again_weights + again_biases, step):
            p.grad, q.grad = np.array(g), np.array(g)
        first.step()
        second.step()
    for p, q in zip(weights + biases, again_weights + again_biases):
        assert np.array_equal(p.data, q.data)
    with pytest.raises(ValueError, match=r"AdamW.load_state_dict \(from .*c.npz\): the state is for parameter groups "
                                         r"of \[2, 1\] parameters; this optimizer has groups of \[3\]"):
        optim.AdamW(again_weights + again_biases).load_state_dict(saved["optimizer"])


def test_groups_that_cannot_work_are_refused_with_what_to_do():
    p, q = Parameter(np.zeros(1)), Parameter(np.zeros(2))
    with pytest.raises(ValueError, match=r"SGD: lr must be a finite number >= 0, got -1 \(in parameter group 1\)"):
        optim.SGD([{"params": [p]}, {"params": [q], "lr": -1}], lr=0.1)
    with pytest.raises(ValueError, match=r"already in an earlier group; each parameter may be in one group only"):
        optim.SGD([{"params": [p, q]}, {"params": [q]}], lr=0.1)
    with pytest.raises(TypeError, match=r"parameter 1 of parameter group 0 is a dict, not a Tensor; pass the "
                                        r"parameters \(model.parameters\(\)\), or a list of dicts"):
        optim.SGD([p, {"params": [q]}], lr=0.1)
    with pytest.raises(TypeError, match=r"parameter group 1 is a Parameter, not a dict with a 'params' entry"):
        optim.SGD([{"params": [p]}, q], lr=0.1)
    with pytest.raises(TypeError, match=r"parameters of parameter group 0 are a set.*pass a list"):
        optim.SGD([{"params": {p, q}}], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD: nesterov momentum requires momentum > 0 and dampening = 0, got "
                                         r"momentum=0.0, dampening=0.0 \(in parameter group 0\)"):
        optim.SGD([{"params": [p], "nesterov": True}], lr=0.1)
    with pytest.raises(ValueError, match=r"Adam: betas must be two numbers in \[0, 1\), got \(1.0, 0.9\) \(in "
                                         r"parameter group 0\)"):
        optim.Adam([{"params": [p], "betas": (1.0, 0.9)}])
