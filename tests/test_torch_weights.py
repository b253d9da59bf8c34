"""PyTorch state_dicts into tinycnn without PyTorch (tinycnn/torch_weights.py): exact arrays, same outputs, and files
that would run code refused unrun. Files are made with torch where it is installed (the oracle); the refusals need
no torch."""

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinycnn
import tinycnn.functional as F
from tinycnn import Tensor, nn
from tinycnn.torch_weights import TorchFileError, is_torch_file, load_torch_state_dict

REPO = Path(__file__).resolve().parents[1]


class TinyNet(nn.Module):
    """Conv, BatchNorm, pool, Linear: the layers whose weights move between the two, named as a PyTorch user would."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.features = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU())
        self.fc = nn.Linear(6 * 3 * 3, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        x = self.features(x)
        return F.log_softmax(self.fc(F.flatten(x)), dim=1)


def torch_twin(torch, dtype):
    """TinyNet in PyTorch, in ``dtype``, with BatchNorm statistics that are not the defaults (a few training
    steps' worth), in eval mode."""
    nn_ = torch.nn

    class TorchTinyNet(nn_.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn_.Conv2d(1, 4, 3)
            self.bn = nn_.BatchNorm2d(4)
            self.features = nn_.Sequential(nn_.Conv2d(4, 6, 3, padding=1, bias=False), nn_.BatchNorm2d(6),
                                           nn_.ReLU())
            self.fc = nn_.Linear(6 * 3 * 3, 5)

        def forward(self, x):
            x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
            x = self.features(x)
            return torch.log_softmax(self.fc(x.flatten(1)), dim=1)

    torch.manual_seed(0)
    model = TorchTinyNet().to(dtype)
    with torch.no_grad():
        for _ in range(3):  # training-mode forwards move the running statistics and num_batches_tracked
            model(torch.randn(8, 1, 8, 8, dtype=dtype))
    return model.eval()


def save_torch_twin(torch, dtype, path):
    model = torch_twin(torch, dtype)
    torch.save(model.state_dict(), path)
    return model


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_a_torch_state_dict_loads_into_a_tinycnn_model_with_the_same_outputs(tmp_path, dtype_name):
    torch = pytest.importorskip("torch")
    dtype = getattr(torch, dtype_name)
    theirs = save_torch_twin(torch, dtype, tmp_path / "model.pt")
    state = load_torch_state_dict(tmp_path / "model.pt")
    for key, tensor in theirs.state_dict().items():
        assert state[key].dtype == np.dtype(dtype_name) or key.endswith("num_batches_tracked"), key
        assert np.array_equal(state[key], tensor.numpy()), key
    assert int(state["bn.num_batches_tracked"]) == 3 and state["bn.num_batches_tracked"].dtype == np.int64

    ours = TinyNet().to(np.dtype(dtype_name))
    ours.load_state_dict(state)
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(dtype_name)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    tolerance = 1e-5 if dtype_name == "float32" else 1e-12
    np.testing.assert_allclose(ours.eval()(Tensor(x)).data, expected, rtol=tolerance, atol=tolerance)


def test_the_loader_does_not_import_torch(tmp_path):
    """In a process without torch: the file loads, the model runs, and torch was never imported."""
    torch = pytest.importorskip("torch")
    for dtype_name in ("float32", "float64"):
        theirs = save_torch_twin(torch, getattr(torch, dtype_name), tmp_path / f"{dtype_name}.pt")
        x = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(dtype_name)
        np.save(tmp_path / f"{dtype_name}-x.npy", x)
        with torch.no_grad():
            np.save(tmp_path / f"{dtype_name}-expected.npy", theirs(torch.from_numpy(x)).numpy())
    script = f"""
import sys
import numpy as np
sys.path.insert(0, {str(REPO / "tests")!r})
import tinycnn
from test_torch_weights import TinyNet
for dtype_name in ("float32", "float64"):
    model = TinyNet().to(np.dtype(dtype_name))
    model.load_state_dict(tinycnn.load_torch_state_dict({str(tmp_path)!r} + f"/{{dtype_name}}.pt"))
    x = np.load({str(tmp_path)!r} + f"/{{dtype_name}}-x.npy")
    np.save({str(tmp_path)!r} + f"/{{dtype_name}}-ours.npy", model.eval()(tinycnn.Tensor(x)).data)
print("torch imported:", "torch" in sys.modules)
"""
    # a test module imports pytest and hypothesis, never torch; an import hook would fail loudly if anything tried
    blocker = "import sys\nclass Block:\n    def find_spec(self, name, *rest):\n" \
              "        if name == 'torch' or name.startswith('torch.'):\n" \
              "            raise ImportError('torch is blocked in this test')\nsys.meta_path.insert(0, Block())\n"
    run = subprocess.run([sys.executable, "-c", blocker + script], capture_output=True, text=True, timeout=600,
                         cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "torch imported: False"
    for dtype_name, tolerance in (("float32", 1e-5), ("float64", 1e-12)):
        np.testing.assert_allclose(np.load(tmp_path / f"{dtype_name}-ours.npy"),
                                   np.load(tmp_path / f"{dtype_name}-expected.npy"), rtol=tolerance, atol=tolerance)


@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=4), data=st.data(),
       dtype_name=st.sampled_from(["float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8", "bool"]))
def test_any_layout_of_a_tensor_reads_back_exactly(tmp_path_factory, shape, data, dtype_name):
    """Permuted, sliced and offset tensors (their storage is not laid out as their shape) read back element for
    element, in every dtype a state_dict holds; bfloat16 as float32, exactly."""
    torch = pytest.importorskip("torch")
    dtype = getattr(torch, dtype_name)
    base = torch.arange(int(np.prod([n + 2 for n in shape])), dtype=torch.float64).reshape([n + 2 for n in shape])
    base = (base % 7 > 2) if dtype_name == "bool" else base.to(dtype)
    order = data.draw(st.permutations(range(len(shape))))
    starts = [data.draw(st.integers(0, 2)) for _ in shape]
    permuted = base.permute(*order) if shape else base
    tensor = permuted[tuple(slice(start, start + shape[i]) for start, i in zip(starts, order))]
    path = tmp_path_factory.mktemp("layouts") / "t.pt"
    torch.save({"t": tensor, "note": "plain values pass", "n": 3}, path)
    loaded = load_torch_state_dict(path)
    expected = tensor.float().numpy() if dtype_name == "bfloat16" else tensor.numpy()
    assert loaded["t"].dtype == expected.dtype and loaded["t"].shape == expected.shape
    assert np.array_equal(loaded["t"], expected)
    assert loaded["note"] == "plain values pass" and loaded["n"] == 3 and loaded.source == str(path)


def test_a_shape_mismatch_names_the_file_and_the_key(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"weight": torch.zeros(3, 2), "bias": torch.zeros(3)}, tmp_path / "linear.pt")
    with pytest.raises(ValueError, match=r"load_state_dict \(from .*linear\.pt\): weight has shape \(3, 2\)"):
        nn.Linear(4, 3).load_state_dict(load_torch_state_dict(tmp_path / "linear.pt"))


class Evil:
    """Unpickling this calls os.system: what a hostile .pt file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def torch_like_zip(path, payload):
    """A zip laid out as torch.save's (NAME/data.pkl, NAME/byteorder) around the pickle ``payload``."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", payload)
        archive.writestr("model/byteorder", "little")
        archive.writestr("model/version", "3\n")


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    torch_like_zip(tmp_path / "model.pt", pickle.dumps({"weight": Evil(marker)}, protocol=2))
    assert is_torch_file(tmp_path / "model.pt")
    with pytest.raises(TorchFileError, match="would need to run code to load; tinycnn loads only plain "
                                             "state_dicts.*it names (posix|os)\\.system$"):
        load_torch_state_dict(tmp_path / "model.pt")
    assert not marker.exists()

    (tmp_path / "bare.pkl").write_bytes(pickle.dumps(Evil(marker)))  # not even a zip: never unpickled
    with pytest.raises(TorchFileError, match="legacy format"):
        load_torch_state_dict(tmp_path / "bare.pkl")
    assert not marker.exists()


def test_a_whole_saved_model_is_refused_with_what_to_save_instead(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save(torch.nn.Linear(2, 3), tmp_path / "whole.pt")
    with pytest.raises(TorchFileError, match=r"it names torch\.nn\.modules\.linear\.Linear \(it holds a whole model"
                                             r".*save model\.state_dict\(\) instead\)"):
        load_torch_state_dict(tmp_path / "whole.pt")


def test_the_legacy_format_is_refused_with_how_to_re_save(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.zeros(2)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(TorchFileError, match=r"old\.pt: not a zip file.*legacy format.*re-save it with PyTorch's "
                                             r"default"):
        load_torch_state_dict(tmp_path / "old.pt")


def rewrite(source, target, change):
    """Copy the zip ``source`` to ``target``, passing each member's (name, bytes) through ``change``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, change(name, old.read(name)))


def test_damaged_files_are_refused_with_their_name(tmp_path):
    torch = pytest.importorskip("torch")
    good = tmp_path / "good.pt"
    torch.save({"t": torch.zeros(3, 4)}, good)
    # a stride that would read past the storage (size (3, 4), stride (4, 1) made (9, 1)): refused, not read
    rewrite(good, tmp_path / "stride.pt",
            lambda name, raw: raw.replace(b"K\x04K\x01\x86", b"K\x09K\x01\x86") if name.endswith("data.pkl") else raw)
    with pytest.raises(TorchFileError, match=r"stride\.pt: a tensor of size \(3, 4\) and stride \(9, 1\).*reads past"):
        load_torch_state_dict(tmp_path / "stride.pt")
    rewrite(good, tmp_path / "short.pt", lambda name, raw: raw[:-4] if "/data/" in name else raw)
    with pytest.raises(TorchFileError, match=r"short\.pt: storage 0 holds 44 bytes, not 12 FloatStorage elements"):
        load_torch_state_dict(tmp_path / "short.pt")
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:200])
    with pytest.raises(TorchFileError, match=r"cut\.pt: cannot be read as a torch\.save file"):
        load_torch_state_dict(tmp_path / "cut.pt")


def test_files_that_are_not_torch_saves_are_told_apart(tmp_path):
    tinycnn.save({"w": np.zeros(2, np.float32)}, tmp_path / "ours.npz")
    assert not is_torch_file(tmp_path / "ours.npz")
    with pytest.raises(TorchFileError, match=r"ours\.npz: a zip file, but not one torch\.save wrote.*tinycnn\.load"):
        load_torch_state_dict(tmp_path / "ours.npz")
    with pytest.raises(TorchFileError, match=r"missing\.pt: cannot be read"):
        load_torch_state_dict(tmp_path / "missing.pt")
    (tmp_path / "notes.txt").write_text(json.dumps({"w": [1, 2]}))
    with pytest.raises(TorchFileError, match=r"notes\.txt: not a zip file, so not what torch\.save writes by "
                                             r"default$"):
        load_torch_state_dict(tmp_path / "notes.txt")
    assert not is_torch_file(tmp_path / "notes.txt")
