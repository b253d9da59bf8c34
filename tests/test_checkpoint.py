"""Checkpoints without pickle: bit-identical round trips, resume equal to an uninterrupted run, clear errors."""

import json

import numpy as np
import pytest

import tinycnn
from tinycnn import Tensor, nn, optim
from tinycnn.serialization import MANIFEST


def small_model():
    return nn.Sequential(nn.Conv2d(1, 3, 3, generator=np.random.default_rng(0)), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(3 * 4 * 4, 5, generator=np.random.default_rng(1)))


def trained_state():
    """A model, an Adam optimizer and a schedule after two steps, and a generator that has drawn."""
    model = small_model()
    optimizer = optim.AdamW(model.parameters(), lr=0.01)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=10)
    rng = np.random.default_rng(7)
    for _ in range(2):
        optimizer.zero_grad()
        x = Tensor(rng.standard_normal((4, 1, 6, 6)).astype(np.float32))
        tinycnn.functional.cross_entropy(model(x), rng.integers(0, 5, 4)).backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler, rng


def test_round_trip_is_bit_identical(tmp_path):
    model, optimizer, scheduler, rng = trained_state()
    saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "epoch": 2, "generator": rng.bit_generator.state, "note": None, "flags": (True, 1.5, "x")}
    tinycnn.save(saved, tmp_path / "c.npz")
    loaded = tinycnn.load(tmp_path / "c.npz")
    for key, array in saved["model"].items():
        assert loaded["model"][key].dtype == array.dtype and np.array_equal(loaded["model"][key], array), key
    assert loaded["epoch"] == 2 and loaded["note"] is None and loaded["flags"] == (True, 1.5, "x")
    assert loaded["generator"] == saved["generator"]  # 128-bit integers survive
    for index, state in saved["optimizer"]["state"].items():
        for key, value in state.items():
            assert np.array_equal(loaded["optimizer"]["state"][index][key], value)

    again_model, again_optimizer, again_scheduler, _ = small_model(), None, None, None
    again_model.load_state_dict(loaded["model"])
    again_optimizer = optim.AdamW(again_model.parameters(), lr=0.5)
    again_optimizer.load_state_dict(loaded["optimizer"])
    again_scheduler = optim.lr_scheduler.OneCycleLR(again_optimizer, max_lr=0.01, total_steps=10)
    again_scheduler.load_state_dict(loaded["scheduler"])
    again_rng = np.random.default_rng()
    again_rng.bit_generator.state = loaded["generator"]
    for (a_opt, a_sched, a_rng), (b_opt, b_sched, b_rng) in [((optimizer, scheduler, rng),
                                                              (again_optimizer, again_scheduler, again_rng))]:
        assert a_opt.param_groups[0]["lr"] == b_opt.param_groups[0]["lr"]
        assert a_rng.integers(0, 2**62) == b_rng.integers(0, 2**62)


def test_resume_after_an_epoch_equals_the_uninterrupted_run(tmp_path):
    import harness
    import tiny

    def run(name, *flags):
        argv = ["--trial", "tiny2k-s0", "--limit", "256", "--epochs", "2", "--val", "200", "--no-progress",
                "--no-plots", "--out", str(tmp_path / f"{name}.json"), "--checkpoints", str(tmp_path / name)]
        assert harness.main("resume test", tiny.TRIALS, argv=argv + list(flags)) == 0

    run("whole")
    run("parts", "--stop-after", "1")
    assert not (tmp_path / "parts.json").exists()  # stopped: no record yet
    other_limit = ["--trial", "tiny2k-s0", "--limit", "128", "--epochs", "2", "--val", "200", "--no-progress",
                   "--no-plots", "--out", str(tmp_path / "parts.json"), "--checkpoints", str(tmp_path / "parts"),
                   "--resume"]
    assert harness.main("resume test", tiny.TRIALS, argv=other_limit) == 2  # refused: another --limit
    run("parts", "--resume")
    whole, parts = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("whole", "parts"))
    timings = {"train_seconds", "eval_seconds", "seconds_per_epoch", "checkpoint"}
    assert {k: v for k, v in whole.items() if k not in timings} == {k: v for k, v in parts.items() if k not in timings}
    kept = [tinycnn.load(tmp_path / name / "tiny2k-s0.npz")["model"] for name in ("whole", "parts")]
    for key in kept[0]:
        assert np.array_equal(kept[0][key], kept[1][key]), key


def test_a_truncated_file_names_itself(tmp_path):
    path = tmp_path / "c.npz"
    tinycnn.save({"model": small_model().state_dict()}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(tinycnn.CheckpointError, match=rf"{path}: cannot be read as a \.npz .*truncated"):
        tinycnn.load(path)


def test_a_foreign_or_pickled_file_is_refused(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    with pytest.raises(tinycnn.CheckpointError, match="not a tinycnn checkpoint"):
        tinycnn.load(foreign)
    pickled = tmp_path / "pickled.npz"
    manifest = json.dumps({"format": "tinycnn checkpoint 1", "root": {"array": "array0"}})
    np.savez(pickled, array0=np.array([{"a": 1}], dtype=object), **{MANIFEST: np.array(manifest)})
    with pytest.raises(tinycnn.CheckpointError, match="holds pickled Python objects, which tinycnn does not load"):
        tinycnn.load(pickled)
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(tinycnn.CheckpointError, match=r"text.npz: not a \.npz file \(it starts with the bytes"):
        tinycnn.load(tmp_path / "text.npz")
    import pickle
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"model": {}}))
    with pytest.raises(tinycnn.CheckpointError, match="plain.pkl: holds pickled Python objects"):
        tinycnn.load(tmp_path / "plain.pkl")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(tinycnn.CheckpointError, match="empty.npz: an empty file"):
        tinycnn.load(tmp_path / "empty.npz")


def test_a_state_of_another_shape_names_the_file_and_the_parameter(tmp_path):
    path = tmp_path / "c.npz"
    model, optimizer, _, _ = trained_state()
    tinycnn.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
    loaded = tinycnn.load(path)
    other = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    with pytest.raises(ValueError, match=rf"\(from {path}\): 0.weight has shape \(3, 1, 3, 3\), the model expects "
                                         r"\(4, 1, 3, 3\)"):
        other.load_state_dict(loaded["model"])
    with pytest.raises(ValueError, match=rf"AdamW.load_state_dict \(from {path}\): parameter 0's exp_avg has shape"):
        optim.AdamW(other.parameters()).load_state_dict(loaded["optimizer"])


def test_save_refuses_what_it_cannot_store_and_leaves_the_old_file(tmp_path):
    path = tmp_path / "c.npz"
    tinycnn.save({"epoch": 1}, path)
    before = path.read_bytes()
    with pytest.raises(tinycnn.CheckpointError, match=r"the checkpoint.model has type object"):
        tinycnn.save({"model": object()}, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]
