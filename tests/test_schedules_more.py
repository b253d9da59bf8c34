"""MultiStepLR, ExponentialLR, LinearLR, LambdaLR, SequentialLR and ReduceLROnPlateau: every step against torch,
with two parameter groups at different rates, past every milestone; resumed mid-way from a checkpoint; refusals."""

import math

import numpy as np
import pytest
from test_schedules import grouped  # an SGD or Adam of two groups, at rates 0.1 and 0.01, ours or torch's

import tinycnn
from tinycnn import optim
from tinycnn.nn import Parameter


class Halving:
    """A callable object as lr_lambda: its attributes are saved in the state, unlike a function's."""

    def __init__(self, every):
        self.every = every

    def __call__(self, epoch):
        return 0.5 ** (epoch // self.every)


# (a name for the case, make(lr_scheduler module, optimizer) -> schedule, steps); ``s`` is ours or torch's module
SCHEDULES = [
    ("MultiStepLR", lambda s, o: s.MultiStepLR(o, milestones=[3, 7, 7, 12], gamma=0.3), 20),
    ("ExponentialLR", lambda s, o: s.ExponentialLR(o, gamma=0.93), 60),
    ("LinearLR warm-up", lambda s, o: s.LinearLR(o, start_factor=0.05, total_iters=9), 15),
    ("LinearLR decay", lambda s, o: s.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=7), 12),
    ("LambdaLR one", lambda s, o: s.LambdaLR(o, lambda epoch: 1 / (1 + epoch) ** 0.5), 12),
    ("LambdaLR per group", lambda s, o: s.LambdaLR(o, [lambda epoch: 0.9**epoch, Halving(3)]), 12),
    ("SequentialLR warm-up, cosine", lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.1, total_iters=5), s.CosineAnnealingLR(o, T_max=10, eta_min=1e-4)],
        milestones=[5]), 30),
    ("SequentialLR three", lambda s, o: s.SequentialLR(
        o, [s.ExponentialLR(o, gamma=0.8), s.MultiStepLR(o, milestones=[2, 4], gamma=0.5),
            s.LinearLR(o, start_factor=0.5, end_factor=0.1, total_iters=3)], milestones=[4, 10]), 20),
    ("SequentialLR from 0", lambda s, o: s.SequentialLR(
        o, [s.StepLR(o, step_size=2, gamma=0.5), s.LambdaLR(o, lambda epoch: 1 + epoch)], milestones=[0]), 8),
    ("SequentialLR one-cycle, step", lambda s, o: s.SequentialLR(
        o, [s.OneCycleLR(o, max_lr=[0.5, 0.05], total_steps=10), s.StepLR(o, step_size=3, gamma=0.5)],
        milestones=[9]), 20),
]


def make_pair(torch, name, make, optimizer):
    ours, theirs = grouped(optim, optimizer), grouped(torch.optim, optimizer)
    return ours, make(optim.lr_scheduler, ours), theirs, make(torch.optim.lr_scheduler, theirs)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's about the order of its steps
@pytest.mark.parametrize("name, make, steps", SCHEDULES, ids=[case[0] for case in SCHEDULES])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_every_groups_rate_at_every_step_equals_torchs(name, make, steps, optimizer):
    torch = pytest.importorskip("torch")
    ours, ours_schedule, theirs, theirs_schedule = make_pair(torch, name, make, optimizer)
    key = "momentum" if optimizer == "SGD" else "betas"
    for step in range(steps + 1):
        where = f"{name}, after {step} steps"
        assert ours_schedule.get_last_lr() == pytest.approx(theirs_schedule.get_last_lr(), rel=1e-12, abs=1e-16), where
        assert [g["lr"] for g in ours.param_groups] == ours_schedule.get_last_lr(), where
        assert [g["lr"] for g in theirs.param_groups] == pytest.approx(ours_schedule.get_last_lr(), rel=1e-12,
                                                                       abs=1e-16), where
        for group, torch_group in zip(ours.param_groups, theirs.param_groups):
            assert np.allclose(group[key], torch_group[key], rtol=1e-12), where
        assert ours_schedule.last_epoch == theirs_schedule.last_epoch, where
        if name.startswith("SequentialLR"):  # what SequentialLR does to the schedules it holds, as PyTorch
            assert [s.last_epoch for s in ours_schedule._schedulers] == \
                [s.last_epoch for s in theirs_schedule._schedulers], where
        theirs.step()
        ours_schedule.step()
        theirs_schedule.step()


def test_the_rates_by_hand():
    """A few steps of each, from the published formulas, without torch."""
    def rates(make, steps):
        optimizer = grouped(optim, "SGD")
        schedule, out = make(optim.lr_scheduler, optimizer), []
        for _ in range(steps):
            out.append(schedule.get_last_lr())
            schedule.step()
        return out
    close = np.testing.assert_allclose
    close(rates(SCHEDULES[0][1], 9)[6:], [[0.1 * 0.3, 0.01 * 0.3], [0.1 * 0.3**3, 0.01 * 0.3**3],
                                          [0.1 * 0.3**3, 0.01 * 0.3**3]], rtol=1e-12)  # 7 listed twice: gamma**2
    close(rates(lambda s, o: s.LinearLR(o, start_factor=0.25, total_iters=3), 5),
          [[0.025, 0.0025], [0.05, 0.005], [0.075, 0.0075], [0.1, 0.01], [0.1, 0.01]], rtol=1e-12)
    close(rates(SCHEDULES[5][1], 4), [[0.1, 0.01], [0.09, 0.01], [0.081, 0.01], [0.0729, 0.005]], rtol=1e-12)
    warm_then_cosine = rates(SCHEDULES[6][1], 17)
    close(warm_then_cosine[4], [0.1 * (0.1 + 0.9 * 4 / 5), 0.01 * (0.1 + 0.9 * 4 / 5)], rtol=1e-12)
    close(warm_then_cosine[5], [0.1, 0.01], rtol=1e-12)  # the milestone restarts the cosine at the base rate
    close(warm_then_cosine[15][0], 1e-4, rtol=1e-12)  # T_max steps after its start


# ----- ReduceLROnPlateau ---------------------------------------------------------------------------------


def metrics(seed, count, mode):
    """A validation loss (mode "min") or accuracy ("max") with improvements, near-ties below a relative threshold
    of 1e-4, plateaus, worse steps and NaNs."""
    rng, value, out = np.random.default_rng(seed), 1.0, []
    for _ in range(count):
        kind = rng.choice(["better", "tiny", "same", "worse", "nan"], p=[0.25, 0.15, 0.3, 0.25, 0.05])
        value *= {"better": 0.9, "tiny": 1 - 5e-5, "same": 1.0, "worse": 1.1, "nan": 1.0}[kind]
        reported = math.nan if kind == "nan" else value
        out.append(reported if mode == "min" else 1 / reported)
    return out


PLATEAUS = [
    dict(),
    dict(mode="max", factor=0.5, patience=2, min_lr=[0.02, 0.0005]),
    dict(mode="min", threshold_mode="abs", threshold=0.01, patience=1, cooldown=2, factor=0.3),
    dict(mode="max", threshold_mode="abs", threshold=0.0, patience=0, factor=0.5, min_lr=0.001),
    dict(patience=1, factor=0.5, eps=0.004),  # a reduction smaller than eps is skipped
    dict(patience=3, cooldown=4, threshold=0.05, factor=0.7, min_lr=(0.0, 0.004)),
]


@pytest.mark.parametrize("options", PLATEAUS)
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_reduce_on_plateau_equals_torchs(options, optimizer):
    torch = pytest.importorskip("torch")
    ours, theirs = grouped(optim, optimizer), grouped(torch.optim, optimizer)
    ours_schedule = optim.lr_scheduler.ReduceLROnPlateau(ours, **options)
    theirs_schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **options)
    reductions = 0
    for step, metric in enumerate(metrics(7, 80, options.get("mode", "min"))):
        before = ours_schedule.get_last_lr()
        theirs.step()
        ours_schedule.step(metric)
        theirs_schedule.step(metric)
        reductions += ours_schedule.get_last_lr() != before
        assert ours_schedule.get_last_lr() == pytest.approx(theirs_schedule.get_last_lr(), rel=1e-12), step
        for attribute in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch", "min_lrs"):
            assert getattr(ours_schedule, attribute) == getattr(theirs_schedule, attribute), (attribute, step)
    assert reductions >= 2  # the metrics reach plateaus


def test_reduce_on_plateau_by_hand_and_its_metrics():
    optimizer = grouped(optim, "SGD")
    schedule = optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=1, factor=0.5, min_lr=[0.03, 0])
    assert schedule.get_last_lr() == [0.1, 0.01]  # made: the rates untouched
    schedule.step(1.0)  # the first value is always better than the start (inf)
    schedule.step(tinycnn.tensor(1.0))  # one bad step: within patience
    assert schedule.get_last_lr() == [0.1, 0.01]
    schedule.step(np.float32(0.99995))  # not better than 1.0 by a relative 1e-4: the second bad step reduces
    assert schedule.get_last_lr() == [0.05, 0.005] and schedule.num_bad_epochs == 0
    schedule.step(2.0)
    schedule.step(2.0)
    assert schedule.get_last_lr() == [0.03, 0.0025]  # the first group stops at its min_lr
    with pytest.raises(TypeError, match=r"ReduceLROnPlateau.step: metrics must be one number \(a validation loss "
                                        r"or accuracy\), got a ndarray of shape \(2,\)"):
        schedule.step(np.array([1.0, 2.0]))


# ----- resuming from a checkpoint -------------------------------------------------------------------------


RESUMABLE = SCHEDULES + [("ReduceLROnPlateau", lambda s, o: s.ReduceLROnPlateau(o, patience=1, cooldown=1,
                                                                               factor=0.5), 30)]


@pytest.mark.parametrize("name, make, steps", RESUMABLE, ids=[case[0] for case in RESUMABLE])
@pytest.mark.parametrize("stop", [3, 11])  # before and after the milestones of most
def test_a_schedule_resumed_mid_way_continues_the_same(name, make, steps, stop, tmp_path):
    plateau_metrics = metrics(3, steps, "min")

    def step(schedule, index):
        schedule.step(plateau_metrics[index]) if name == "ReduceLROnPlateau" else schedule.step()

    first_optimizer = grouped(optim, "Adam")
    first = make(optim.lr_scheduler, first_optimizer)
    for index in range(stop):
        step(first, index)
    tinycnn.save({"optimizer": first_optimizer.state_dict(), "scheduler": first.state_dict()}, tmp_path / "c.npz")
    saved = tinycnn.load(tmp_path / "c.npz")
    second_optimizer = grouped(optim, "Adam")  # made afresh, in the order a PyTorch script makes them
    second = make(optim.lr_scheduler, second_optimizer)
    second_optimizer.load_state_dict(saved["optimizer"])
    second.load_state_dict(saved["scheduler"])
    for index in range(stop, steps):
        assert second.get_last_lr() == first.get_last_lr(), (name, index)
        assert [g["betas"] for g in second_optimizer.param_groups] == [g["betas"] for g in first_optimizer.param_groups]
        step(first, index)
        step(second, index)
    assert second.state_dict().keys() == first.state_dict().keys()


def test_lambda_lr_saves_a_callable_objects_attributes_and_not_a_functions():
    optimizer = grouped(optim, "SGD")
    halving = Halving(3)
    schedule = optim.lr_scheduler.LambdaLR(optimizer, [lambda epoch: 1.0, halving])
    halving.every = 2  # changed during the run: the state keeps it
    state = schedule.state_dict()
    assert state["lr_lambdas"] == [None, {"every": 2}]
    again = optim.lr_scheduler.LambdaLR(grouped(optim, "SGD"), [lambda epoch: 1.0, Halving(3)])
    again.load_state_dict(state)
    assert again.lr_lambdas[1].every == 2 and state["lr_lambdas"] == [None, {"every": 2}]
    with pytest.raises(ValueError, match=r"LambdaLR.load_state_dict: the state has 2 lr_lambdas, this LambdaLR has 1"):
        optim.lr_scheduler.LambdaLR(optim.SGD([Parameter(np.zeros(1))]), abs).load_state_dict(state)


# ----- what cannot work is refused, saying what to do -----------------------------------------------------


def test_bad_arguments_are_refused_with_what_to_do():
    s, optimizer = optim.lr_scheduler, grouped(optim, "SGD")
    refusals = [
        (ValueError, r"LinearLR: start_factor must lie in \(0, 1\], got 0", lambda: s.LinearLR(optimizer, 0)),
        (ValueError, r"LinearLR: end_factor must lie in \[0, 1\], got 2", lambda: s.LinearLR(optimizer, 1, 2)),
        (ValueError, r"LinearLR: total_iters must be a whole number of steps >= 1, got 0",
         lambda: s.LinearLR(optimizer, total_iters=0)),
        (TypeError, r"MultiStepLR: milestones must be step counts \(ints\), got \[2.5\]",
         lambda: s.MultiStepLR(optimizer, [2.5])),
        (ValueError, r"LambdaLR: lr_lambda has 3 values for 2 parameter groups",
         lambda: s.LambdaLR(optimizer, [abs, abs, abs])),
        (TypeError, r"LambdaLR: lr_lambda 1 is a float, not a function of the step count",
         lambda: s.LambdaLR(optimizer, [abs, 0.5])),
        (ValueError, r"SequentialLR: 2 schedulers need 1 milestones .*, got 2",
         lambda: s.SequentialLR(optimizer, [s.StepLR(optimizer, 2), s.StepLR(optimizer, 3)], [1, 2])),
        (ValueError, r"SequentialLR: milestones must be step counts in increasing order, got \[5, 2\]",
         lambda: s.SequentialLR(optimizer, [s.StepLR(optimizer, k) for k in (2, 3, 4)], [5, 2])),
        (ValueError, r"SequentialLR: schedulers\[1\] \(StepLR\) was made for another optimizer",
         lambda: s.SequentialLR(optimizer, [s.StepLR(optimizer, 2), s.StepLR(grouped(optim, "SGD"), 3)], [1])),
        (TypeError, r"SequentialLR: schedulers\[0\] is a ReduceLROnPlateau; give schedules stepped without",
         lambda: s.SequentialLR(optimizer, [s.ReduceLROnPlateau(optimizer)], [])),
        (ValueError, r"SequentialLR: a schedule is listed twice in schedulers; make a new one for each stretch",
         lambda: s.SequentialLR(optimizer, [s.StepLR(optimizer, 2)] * 2, [3])),
        (TypeError, r"SequentialLR: schedulers\[1\] is a SequentialLR",
         lambda: s.SequentialLR(optimizer, [s.StepLR(optimizer, 2), s.SequentialLR(optimizer, [s.StepLR(
             optimizer, 3)], [])], [3])),
        (ValueError, r"SequentialLR: give at least one schedule", lambda: s.SequentialLR(optimizer, [], [])),
        (ValueError, r"ReduceLROnPlateau: mode must be 'min' \(a loss\) or 'max' \(an accuracy\), got 'mean'",
         lambda: s.ReduceLROnPlateau(optimizer, mode="mean")),
        (ValueError, r"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got 'relative'",
         lambda: s.ReduceLROnPlateau(optimizer, threshold_mode="relative")),
        (ValueError, r"ReduceLROnPlateau: factor must lie in \[0, 1\)", lambda: s.ReduceLROnPlateau(optimizer,
                                                                                                    factor=1.0)),
        (ValueError, r"ReduceLROnPlateau: patience must be a whole number of steps >= 0, got -1",
         lambda: s.ReduceLROnPlateau(optimizer, patience=-1)),
        (ValueError, r"ReduceLROnPlateau: min_lr has 1 values for 2 parameter groups",
         lambda: s.ReduceLROnPlateau(optimizer, min_lr=[0.1])),
    ]
    for error, message, make in refusals:
        with pytest.raises(error, match=message):
            make()


def test_a_state_of_another_schedule_is_refused_naming_the_file(tmp_path):
    optimizer = grouped(optim, "SGD")
    tinycnn.save(optim.lr_scheduler.StepLR(optimizer, 2).state_dict(), tmp_path / "step.npz")
    with pytest.raises(ValueError, match=r"MultiStepLR.load_state_dict \(from .*step.npz\): the state lacks "
                                         r"milestones; it is not a MultiStepLR's state_dict\(\)"):
        optim.lr_scheduler.MultiStepLR(optimizer, [2]).load_state_dict(tinycnn.load(tmp_path / "step.npz"))
    with pytest.raises(ValueError, match=r"SequentialLR.load_state_dict: the state has 1 _schedulers, this "
                                         r"SequentialLR has 2"):
        s = optim.lr_scheduler
        two = s.SequentialLR(optimizer, [s.StepLR(optimizer, 2), s.StepLR(optimizer, 3)], [4])
        two.load_state_dict(s.SequentialLR(optimizer, [s.StepLR(optimizer, 2)], []).state_dict())
    plateau = optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau.load_state_dict: the state lacks best, cooldown"):
        plateau.load_state_dict(optim.lr_scheduler.StepLR(optimizer, 2).state_dict())
    # an optimizer given a parameter group after the schedule: a min_lr list no longer fits, and says so
    optimizer.add_param_group({"params": [Parameter(np.zeros(1))]})
    listed = optim.lr_scheduler.ReduceLROnPlateau(grouped(optim, "SGD"), patience=0, min_lr=[0, 0])
    listed.optimizer = optimizer
    listed.step(1.0)
    with pytest.raises(ValueError, match=r"the optimizer has 3 parameter groups, min_lr was given for 2"):
        listed.step(2.0)
