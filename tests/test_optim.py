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
