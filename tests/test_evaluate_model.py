"""experiments/evaluate.py --model: a checkpoint of any model whose class can be imported, its constructor's arguments
from the checkpoint or --model-args, and the messages when they are missing."""

import sys
import textwrap

import numpy as np
import pytest

import evaluate
import tinycnn
from tinycnn.train import evaluate as evaluate_loop

MY_NET = '''
import tinycnn.functional as F
from tinycnn import nn


class MyNet(nn.Module):
    def __init__(self, width, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3)
        self.fc = nn.Linear(width * 13 * 13, classes)

    def forward(self, x):
        return self.fc(F.flatten(F.max_pool2d(F.relu(self.conv(x)), 2)))
'''


@pytest.fixture
def my_net(tmp_path, monkeypatch):
    """A model class of the user's in a file of its own, one of its models, and the folder for its checkpoint.
    What evaluate adds to sys.path and sys.modules goes again afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "my_models.py").write_text(textwrap.dedent(MY_NET))
    namespace = {}
    exec(compile(MY_NET, "my_models.py", "exec"), namespace)
    tinycnn.manual_seed(3)
    yield tmp_path, namespace["MyNet"](width=3)
    for name in ("my_models", "evaluated_my_models"):
        sys.modules.pop(name, None)


def run(argv, capsys):
    code = evaluate.main(argv + ["--limit", "40", "--no-plots"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def expected_accuracy_line(model):
    """What evaluate.py must print for ``model`` on the first 40 test images, computed here without it."""
    data = tinycnn.data.load_mnist(evaluate.DEFAULT_DATA_DIR)
    images, labels = data["test_images"][:40], data["test_labels"][:40]
    accuracy, correct, total = evaluate_loop(model, tinycnn.data.BatchLoader(images, labels, 1000,
                                                                             tinycnn.data.Normalize()), progress=False)
    return f"held-out test accuracy {accuracy:.2f} % ({correct:,} / {total:,})"


def test_a_class_in_a_file_with_arguments_recorded_in_the_checkpoint(my_net, capsys):
    folder, model = my_net
    tinycnn.save({"model": model.state_dict(), "model_args": {"width": 3}, "epoch": 7}, folder / "mine.npz")
    code, out, err = run(["--checkpoint", str(folder / "mine.npz"), "--model", f"{folder / 'my_models.py'}:MyNet"],
                         capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"{folder / 'mine.npz'}: MyNet, {model.num_parameters():,} parameters, epoch 7\n")
    assert expected_accuracy_line(model) in out and "true \\ said" in out


def test_a_module_name_from_the_current_folder_and_a_bare_state_dict_with_model_args(my_net, capsys, monkeypatch):
    folder, model = my_net
    tinycnn.save(model.state_dict(), folder / "bare.npz")
    monkeypatch.chdir(folder)
    code, out, err = run(["--checkpoint", "bare.npz", "--model", "my_models:MyNet", "--model-args", '{"width": 3}'],
                         capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"bare.npz: MyNet, {model.num_parameters():,} parameters, epoch None\n")
    assert expected_accuracy_line(model) in out


def test_missing_constructor_arguments_say_how_to_give_them(my_net, capsys):
    folder, model = my_net
    tinycnn.save({"model": model.state_dict()}, folder / "no-args.npz")
    code, out, err = run(["--checkpoint", str(folder / "no-args.npz"), "--model", f"{folder}/my_models.py:MyNet"],
                         capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"error: --model {folder}/my_models.py:MyNet: cannot make the model (") and \
        "missing 1 required positional argument: 'width'); the checkpoint records no model_args. Pass the " \
        "constructor's keyword arguments as JSON, e.g. --model-args '{\"width\": 8}'" in err


@pytest.mark.parametrize("model, message", [
    ("my_models.py", "give module:Class or path/to/file.py:Class"),
    ("{folder}/nowhere.py:MyNet", "no file {folder}/nowhere.py"),
    ("{folder}/my_models.py:YourNet", "{folder}/my_models.py has no YourNet"),
    ("no_such_package.models:MyNet", "no module no_such_package (looked for from"),
    ("numpy:zeros", "gave a ndarray, not a tinycnn.nn.Module"),
])
def test_a_model_that_cannot_be_found_or_made_is_named(my_net, capsys, model, message):
    folder, net = my_net
    tinycnn.save({"model": net.state_dict(), "model_args": {"shape": 3}}, folder / "c.npz")
    code, _, err = run(["--checkpoint", str(folder / "c.npz"), "--model", model.format(folder=folder)], capsys)
    assert code == 2 and err.startswith("error: ") and message.format(folder=folder) in err, err


def test_wrong_weights_or_a_model_that_is_not_an_mnist_classifier_are_refused(my_net, capsys):
    folder, model = my_net
    tinycnn.save({"model": model.state_dict()}, folder / "c.npz")
    spec = f"{folder}/my_models.py:MyNet"
    code, _, err = run(["--checkpoint", str(folder / "c.npz"), "--model", spec, "--model-args", '{"width": 4}'],
                       capsys)
    assert code == 2 and "conv.weight has shape (3, 1, 3, 3), the model expects (4, 1, 3, 3)" in err
    twelve = type(model)(width=3, classes=12)
    twelve.fc.bias.data[10:] = 100.0  # it answers class 10 or 11 for every image
    tinycnn.save({"model": twelve.state_dict(), "model_args": {"width": 3, "classes": 12}}, folder / "twelve.npz")
    code, _, err = run(["--checkpoint", str(folder / "twelve.npz"), "--model", spec], capsys)
    assert code == 2 and err.startswith(f"error: {folder / 'twelve.npz'}: the model does not classify MNIST's "
                                        "(N, 1, 28, 28) images into 10 digits: confusion_matrix: predictions must "
                                        "lie in [0, 10)")
    code, _, err = run(["--checkpoint", str(folder / "c.npz"), "--model-args", '{"width": 3}'], capsys)
    assert code == 2 and err == "error: --model-args needs --model, the class they are for\n"


def test_a_checkpoint_without_a_known_name_points_to_model(my_net, capsys):
    folder, model = my_net
    tinycnn.save(model.state_dict(), folder / "bare.npz")
    code, _, err = run(["--checkpoint", str(folder / "bare.npz")], capsys)
    assert code == 2 and err.endswith("it names none); for a model of your own, name its class with --model "
                                      "module:Class\n")


def test_a_pytorch_state_dict_evaluates_in_the_study_model_written_for_tinycnn(tmp_path, capsys):
    """The study's model trained in PyTorch (here: PyTorch's initial weights), its torch.save evaluated by ours."""
    torch = pytest.importorskip("torch")
    from benchmark import torch_model
    torch.manual_seed(0)
    theirs = torch_model("iter4").eval()
    torch.save(theirs.state_dict(), tmp_path / "minimal.pt")
    code, out, err = run(["--checkpoint", str(tmp_path / "minimal.pt"), "--model", "models:MinimalNet"], capsys)
    assert (code, err) == (0, "")
    data = tinycnn.data.load_mnist(evaluate.DEFAULT_DATA_DIR)
    images, labels = next(iter(tinycnn.data.BatchLoader(data["test_images"][:40], data["test_labels"][:40], 1000,
                                                        tinycnn.data.Normalize())))  # as evaluate.py prepares them
    with torch.no_grad():
        predictions = theirs(torch.from_numpy(np.ascontiguousarray(images))).argmax(dim=1).numpy()
    correct = int((predictions == labels).sum())
    assert out.startswith(f"{tmp_path / 'minimal.pt'}: MinimalNet, 24,245 parameters, epoch None\n")
    assert f"held-out test accuracy {100 * correct / 40:.2f} % ({correct} / 40)" in out
