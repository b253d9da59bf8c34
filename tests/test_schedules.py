"""Learning-rate schedules: PyTorch's formulas at chosen steps, PyTorch itself when installed, state round trips."""

import math

import numpy as np
import pytest

from tinycnn import optim
from tinycnn.nn import Parameter


def sgd(lr=0.1, momentum=0.9):
    return optim.SGD([Parameter(np.zeros(2))], lr=lr, momentum=momentum)


def rates(scheduler, steps):
    out = []
    for _ in range(steps):
        out.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.step()
    return out


def test_step_lr_formula():
    scheduler = optim.lr_scheduler.StepLR(sgd(), step_size=3, gamma=0.5)
    assert rates(scheduler, 7) == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])


def test_cosine_formula_at_chosen_steps():
    scheduler = optim.lr_scheduler.CosineAnnealingLR(sgd(), T_max=10, eta_min=0.01)
    values = rates(scheduler, 21)
    for step in (0, 3, 5, 10, 15, 20):
        assert values[step] == pytest.approx(0.01 + 0.09 * (1 + math.cos(math.pi * step / 10)) / 2, rel=1e-12)


def test_one_cycle_formula_at_chosen_steps():
    """PyTorch's phases: up from max_lr/25 to max_lr over 30 % of the steps, then down to max_lr/25/1e4."""
    optimizer = sgd()
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=101)
    lrs, momenta = [], []
    for _ in range(101):
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        scheduler.step()
    peak = 0.3 * 101 - 1  # the step the first phase ends on
    assert lrs[0] == pytest.approx(1 / 25) and momenta[0] == pytest.approx(0.95)
    assert lrs[15] == pytest.approx(1 + (1 / 25 - 1) / 2 * (math.cos(math.pi * 15 / peak) + 1))
    assert max(lrs) == pytest.approx(1.0, rel=1e-3) and min(momenta) == pytest.approx(0.85, rel=1e-3)
    assert lrs[100] == pytest.approx(1 / 25 / 1e4) and momenta[100] == pytest.approx(0.95)
    with pytest.raises(ValueError, match="beyond total_steps"):
        scheduler.step()


def test_one_cycle_cycles_adams_first_beta():
    optimizer = optim.Adam([Parameter(np.zeros(2))], lr=0.1, betas=(0.9, 0.99))
    optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=10)
    assert optimizer.param_groups[0]["betas"] == (0.95, 0.99)


@pytest.mark.parametrize("make", [
    lambda o: optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.3),
    lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    lambda o: optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=30),
    lambda o: optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=30, three_phase=True,
                                            anneal_strategy="linear"),
])
def test_a_schedule_resumed_from_its_state_continues_the_same(make):
    first = make(sgd())
    rates(first, 11)
    second = make(sgd())
    second.load_state_dict(first.state_dict())
    assert rates(second, 15) == rates(first, 15)


torch_cases = [
    ("StepLR", dict(step_size=3, gamma=0.5), 20),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001), 30),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=37), 37),
    ("OneCycleLR", dict(max_lr=0.5, epochs=3, steps_per_epoch=11, pct_start=0.25, anneal_strategy="linear"), 33),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=40, three_phase=True), 40),
]


@pytest.mark.parametrize("name, options, steps", torch_cases)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_every_step_equals_torch(name, options, steps, optimizer):
    torch = pytest.importorskip("torch")
    if optimizer == "sgd":
        ours, theirs = sgd(), torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    else:
        ours = optim.Adam([Parameter(np.zeros(2))], lr=0.1)
        theirs = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    ours_schedule = getattr(optim.lr_scheduler, name)(ours, **options)
    torch_schedule = getattr(torch.optim.lr_scheduler, name)(theirs, **options)
    key = "momentum" if optimizer == "sgd" else "betas"
    for _ in range(steps):
        assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        assert np.allclose(ours.param_groups[0][key], theirs.param_groups[0][key], rtol=1e-12)
        theirs.step()
        ours_schedule.step()
        torch_schedule.step()


# ----- parameter groups: each group's own rate, as in PyTorch ----------------------------------------------


def grouped(module, name):
    """An optimizer of ``module`` (tinycnn.optim or torch.optim) with two groups at different rates."""
    make = getattr(module, name)
    if module is optim:
        first, second = [Parameter(np.zeros(2))], [Parameter(np.zeros(1))]
    else:
        import torch
        first, second = [torch.nn.Parameter(torch.zeros(2))], [torch.nn.Parameter(torch.zeros(1))]
    defaults, second_group = (dict(momentum=0.9), dict(lr=0.01, momentum=0.8)) if name == "SGD" else \
        ({}, dict(lr=0.01, betas=(0.8, 0.99)))
    return make([{"params": first}, dict(second_group, params=second)], lr=0.1, **defaults)


group_cases = torch_cases + [
    ("OneCycleLR", dict(max_lr=[0.5, 0.05], total_steps=30), 30),
    ("OneCycleLR", dict(max_lr=[0.5, 0.05], total_steps=30, base_momentum=[0.8, 0.7], max_momentum=(0.9, 0.95),
                        three_phase=True), 30),
]


@pytest.mark.parametrize("name, options, steps", group_cases)
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_every_groups_rate_equals_torchs(name, options, steps, optimizer):
    torch = pytest.importorskip("torch")
    ours, theirs = grouped(optim, optimizer), grouped(torch.optim, optimizer)
    ours_schedule = getattr(optim.lr_scheduler, name)(ours, **options)
    torch_schedule = getattr(torch.optim.lr_scheduler, name)(theirs, **options)
    key = "momentum" if optimizer == "SGD" else "betas"
    for _ in range(steps):
        for group, torch_group in zip(ours.param_groups, theirs.param_groups):
            assert group["lr"] == pytest.approx(torch_group["lr"], rel=1e-12, abs=1e-15)
            assert np.allclose(group[key], torch_group[key], rtol=1e-12)
        assert ours_schedule.get_last_lr() == pytest.approx(torch_schedule.get_last_lr(), rel=1e-12, abs=1e-15)
        theirs.step()
        ours_schedule.step()
        torch_schedule.step()


def test_a_schedule_scales_each_groups_own_rate():
    optimizer = grouped(optim, "SGD")
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    scheduler.step()
    assert scheduler.get_last_lr() == [0.05, 0.005]
    assert [group["initial_lr"] for group in optimizer.param_groups] == [0.1, 0.01]


@pytest.mark.parametrize("make", [
    lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    lambda o: optim.lr_scheduler.OneCycleLR(o, max_lr=[0.5, 0.1], total_steps=30),
])
def test_a_grouped_schedule_resumed_through_a_checkpoint_continues_the_same(make, tmp_path):
    import tinycnn
    first_optimizer = grouped(optim, "SGD")
    first = make(first_optimizer)
    for _ in range(11):
        first.step()
    tinycnn.save({"optimizer": first_optimizer.state_dict(), "scheduler": first.state_dict()}, tmp_path / "c.npz")
    saved = tinycnn.load(tmp_path / "c.npz")
    second_optimizer = grouped(optim, "SGD")
    second = make(second_optimizer)
    second_optimizer.load_state_dict(saved["optimizer"])
    second.load_state_dict(saved["scheduler"])
    for _ in range(15):
        assert [(g["lr"], g["momentum"]) for g in second_optimizer.param_groups] == \
            [(g["lr"], g["momentum"]) for g in first_optimizer.param_groups]
        first.step()
        second.step()


def test_per_group_values_of_the_wrong_count_and_old_states_are_refused():
    with pytest.raises(ValueError, match=r"OneCycleLR: max_lr has 3 values for 2 parameter groups; give one per "
                                         r"group, or one number for all"):
        optim.lr_scheduler.OneCycleLR(grouped(optim, "SGD"), max_lr=[0.1, 0.2, 0.3], total_steps=10)
    scheduler = optim.lr_scheduler.StepLR(sgd(), step_size=2)
    with pytest.raises(ValueError, match=r"StepLR.load_state_dict: a schedule's state from before schedules kept a "
                                         r"rate per parameter group"):
        scheduler.load_state_dict({"base_lr": 0.1, "last_epoch": 3, "step_size": 2, "gamma": 0.1})
