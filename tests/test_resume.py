"""Resume in one call: ``tinycnn.training_state`` / ``load_training_state`` give a run that goes on bit for bit.

The main test is a user's script (SCRIPT below): a model with Dropout,
Dropout2d and BatchNorm, a shuffled DataLoader whose data set has a random
transform, Adam with a OneCycle schedule, and draws of its own from NumPy's
and Python's global generators. It is run whole, and run up to a step,
saved with the one call, and finished in a fresh process after the other
call: the losses, the final weights and buffers, and the generators' states
must be the same bits.
"""

import random
import subprocess
import sys

import numpy as np
import pytest

import tinycnn
from tinycnn import nn
from tinycnn.data import DataLoader, Subset, transforms
from tinycnn.data.datasets import ImageDataset
from tinycnn.random import default_generator

SCRIPT = '''
"""A user's training script: resumes from a checkpoint written by tinycnn.training_state."""
import random
import sys

import numpy as np

import tinycnn
import tinycnn.functional as F
from tinycnn import nn, optim
from tinycnn.data import DataLoader, transforms
from tinycnn.data.datasets import ImageDataset

EPOCHS = 2


def build(generators):
    """The run's objects; with generators == "own" the loader, the flip and one Dropout draw from their own
    generators, with "default" everything draws from tinycnn's."""
    tinycnn.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    own = (lambda seed: np.random.default_rng(seed)) if generators == "own" else (lambda seed: None)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout2d(0.2), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dropout(0.3, generator=own(1)), nn.Linear(4 * 5 * 5, 3))
    pictures = np.random.default_rng(5).integers(0, 256, (40, 12, 12), dtype=np.uint8)
    transform = transforms.Compose([transforms.RandomHorizontalFlip(generator=own(2)), transforms.RandomRotation(10),
                                    transforms.ToTensor(), transforms.Normalize((0.5,), (0.25,))])
    loader = DataLoader(ImageDataset(pictures, np.arange(40) % 3, transform), batch_size=8, shuffle=True,
                        generator=own(3))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.02, total_steps=EPOCHS * len(loader))
    return model, loader, optimizer, scheduler


def train(generators, stop_after=None, checkpoint=None, resume_from=None):
    """Train for EPOCHS; returns the batch losses. With stop_after, save a checkpoint after that many steps."""
    model, loader, optimizer, scheduler = build(generators)
    step, losses = 0, []
    if resume_from is not None:
        state = tinycnn.load(resume_from)
        tinycnn.load_training_state(state, model=model, optimizer=optimizer, scheduler=scheduler, loader=loader)
        step, losses = state["step"], list(state["losses"])
    for epoch in range(step // len(loader), EPOCHS):
        model.train()
        for images, labels in loader:  # after a mid-epoch resume: the rest of the saved epoch
            scale = 1 + 0.01 * np.random.standard_normal() + 0.01 * random.random()  # the script's own draws
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images * float(scale)), labels)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(loss.item())
            if step == stop_after:
                tinycnn.save(tinycnn.training_state(model=model, optimizer=optimizer, scheduler=scheduler,
                                                    loader=loader, step=step, losses=losses), checkpoint)
                return None
    return {"losses": losses, "model": model.state_dict(), "tinycnn": tinycnn.get_rng_state(),
            "numpy": np.random.get_state()[1], "python": list(random.getstate()[1]),
            "generators": [g.bit_generator.state for g in (loader.generator, model[6].generator) if g is not None]}


if __name__ == "__main__":
    generators, mode = sys.argv[1], sys.argv[2]
    if mode == "whole":  # the uninterrupted run, then runs stopped after each step given, in this process
        tinycnn.save(train(generators), "whole.npz")
        for stop in sys.argv[3:]:
            train(generators, stop_after=int(stop), checkpoint=f"stopped-{stop}.npz")
    else:  # resume <step>: finish the run stopped there
        stop = sys.argv[3]
        tinycnn.save(train(generators, resume_from=f"stopped-{stop}.npz"), f"resumed-{stop}.npz")
'''


def run_script(folder, *arguments):
    done = subprocess.run([sys.executable, "script.py", *arguments], cwd=folder, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


def assert_same_run(whole, resumed):
    assert resumed["losses"] == whole["losses"]
    assert list(resumed["model"]) == list(whole["model"])
    for name, array in whole["model"].items():
        assert resumed["model"][name].dtype == array.dtype and np.array_equal(resumed["model"][name], array), name
    for key in ("tinycnn", "python", "generators"):
        assert resumed[key] == whole[key], key
    assert np.array_equal(resumed["numpy"], whole["numpy"])


@pytest.mark.parametrize("generators, stops", [("own", ["5", "7"]), ("default", ["7"])])
def test_a_script_resumed_in_a_fresh_process_equals_the_whole_run(tmp_path, generators, stops):
    """5 batches an epoch: stopped after step 5 (the end of epoch 1) or 7 (in the middle of epoch 2)."""
    (tmp_path / "script.py").write_text(SCRIPT)
    run_script(tmp_path, generators, "whole", *stops)
    whole = tinycnn.load(tmp_path / "whole.npz")
    assert len(whole["losses"]) == 10 and len(set(whole["losses"])) == 10
    for stop in stops:
        stopped = tinycnn.load(tmp_path / f"stopped-{stop}.npz")
        assert stopped["losses"] == whole["losses"][:int(stop)]  # the stopped run is the whole run's beginning
        assert stopped["loader"]["batches_given"] == int(stop) - 5 * (int(stop) > 5)  # per epoch: 5, then 1, 2
        run_script(tmp_path, generators, "resume", stop)
        assert_same_run(whole, tinycnn.load(tmp_path / f"resumed-{stop}.npz"))


def own_generator_pieces():
    """A model with a Dropout of its own generator and one on the default, and a loader over a Subset of a data
    set whose Compose has a random transform of its own generator, one in a RandomApply, and one on the default."""
    model = nn.Sequential(nn.Linear(4, 4, generator=np.random.default_rng(0)), nn.Dropout(0.5),
                          nn.Dropout(0.5, generator=np.random.default_rng(1)))
    transform = transforms.Compose([
        transforms.RandomHorizontalFlip(generator=np.random.default_rng(2)),
        transforms.RandomApply([transforms.RandomVerticalFlip(generator=np.random.default_rng(3))],
                               generator=np.random.default_rng(4)),
        transforms.RandomVerticalFlip(), transforms.ToTensor()])
    pictures = np.arange(6 * 4 * 4, dtype=np.uint8).reshape(6, 4, 4)
    dataset = Subset(ImageDataset(pictures, np.arange(6), transform), [5, 3, 1, 0])
    loader = DataLoader(dataset, batch_size=2, shuffle=True, generator=np.random.default_rng(5))
    return model, loader


def test_every_generator_is_found_where_it_lives():
    model, loader = own_generator_pieces()
    rng = np.random.default_rng(6)
    state = tinycnn.training_state(model=model, loader=loader, rng=rng, epoch=3)
    assert state["epoch"] == 3 and "rng" not in state and set(state) == {"model", "loader", "epoch", "random"}
    assert state["random"]["objects"] == ["model", "loader", "rng"]
    transform = "loader.dataset.dataset.transform.transforms"
    assert list(state["random"]["generators"]) == [
        "model.2.generator", "loader.dataset.dataset.transform.transforms[0].generator",
        f"{transform}[1].generator", f"{transform}[1].transforms.transforms[0].generator", "loader.generator", "rng"]
    assert state["random"]["tinycnn"] == tinycnn.get_rng_state()


def draws(model, loader, rng):
    """What the pieces draw next: a batch of the loader, a dropout pass, the free generator, the global ones."""
    images, _ = next(iter(loader))
    out = model(tinycnn.Tensor(np.ones((2, 4), dtype=np.float32)))
    return [images.data, out.data, rng.random(3), default_generator().random(3), np.random.random(3),
            np.array([random.random()])]


def test_restoring_in_this_process_gives_the_same_draws(tmp_path):
    model, loader = own_generator_pieces()
    rng = np.random.default_rng(6)
    for _ in loader:  # an epoch drawn before the save (a mid-epoch save is the script's test: a fresh iter() here
        pass          # would start a new epoch, where the restored loader finishes the saved one)
    held = default_generator()  # a reference taken before the restore, as BatchLoader keeps one
    tinycnn.save(tinycnn.training_state(model=model, loader=loader, rng=rng), tmp_path / "state.npz")
    first = draws(model, loader, rng)
    tinycnn.load_training_state(tinycnn.load(tmp_path / "state.npz"), model=model, loader=loader, rng=rng)
    assert default_generator() is held  # restored in place
    again = draws(model, loader, rng)
    for a, b in zip(first, again):
        assert np.array_equal(a, b)


def test_get_and_set_rng_state_as_torch():
    state = tinycnn.get_rng_state()
    first = default_generator().standard_normal(4)
    tinycnn.set_rng_state(state)
    assert np.array_equal(default_generator().standard_normal(4), first)
    with pytest.raises(TypeError, match="get_rng_state"):
        tinycnn.set_rng_state(np.random.default_rng(0))
    with pytest.raises(ValueError, match="MT19937.*PCG64"):
        tinycnn.set_rng_state(np.random.Generator(np.random.MT19937(0)).bit_generator.state)


def test_objects_built_otherwise_are_refused_with_the_paths():
    model, loader = own_generator_pieces()
    state = tinycnn.training_state(model=model, loader=loader)
    other = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5, generator=np.random.default_rng(1)), nn.Dropout(0.5))
    with pytest.raises(ValueError, match=r"drew from generators at model\.2\.generator.*objects given have "
                                         r"generators at model\.1\.generator.*generator= arguments"):
        tinycnn.load_training_state(state, model=other, loader=loader)


def test_the_objects_given_back_must_be_those_saved():
    model, loader = own_generator_pieces()
    state = tinycnn.training_state(model=model, loader=loader, epoch=2)
    with pytest.raises(ValueError, match="holds loader, not given here.*pass loader=..."):
        tinycnn.load_training_state(state, model=model)
    with pytest.raises(ValueError, match="epoch is a value the state holds.*read 'epoch' from the state"):
        tinycnn.load_training_state(state, model=model, loader=loader, epoch=2)
    with pytest.raises(ValueError, match="nothing for optimizer; it holds model, loader"):
        tinycnn.load_training_state(state, model=model, loader=loader, optimizer=model)
    with pytest.raises(TypeError, match="loader was saved from an object with a state_dict"):
        tinycnn.load_training_state(state, model=model, loader=np.random.default_rng(0))
    with pytest.raises(ValueError, match="not a training state"):
        tinycnn.load_training_state({"model": model.state_dict()}, model=model)
    with pytest.raises(ValueError, match="'random' is the key"):
        tinycnn.training_state(model=model, random=1)


def test_a_file_that_is_not_a_training_state_is_named(tmp_path):
    model, _ = own_generator_pieces()
    tinycnn.save({"model": model.state_dict()}, tmp_path / "weights.npz")
    with pytest.raises(ValueError, match=r"weights\.npz: not a training state"):
        tinycnn.load_training_state(tinycnn.load(tmp_path / "weights.npz"), model=model)


def test_manual_seed_reseeds_the_generator_that_objects_made_before_it_hold():
    from tinycnn.data import Augment

    held = tinycnn.random.default_generator()
    augment = Augment()  # takes the default generator when made, as the experiments' loaders do
    tinycnn.manual_seed(7)
    assert augment.generator is held is tinycnn.random.default_generator()
    assert np.array_equal(held.random(4), np.random.default_rng(7).random(4))
