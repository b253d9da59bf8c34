"""tinycnn.onnx_export: the exported graph, run by onnxruntime, gives tinycnn's outputs, for the models of
experiments/models.py, BatchNorm and the functional ops; what it cannot export is refused by name. Skipped where onnx
or onnxruntime is not installed (pip install "tinycnn[onnx]")."""

import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import tinycnn.functional as F  # noqa: E402
from models import MODELS  # noqa: E402
from tinycnn import Function, Tensor, nn  # noqa: E402
from tinycnn.onnx_export import ExportError, export, to_onnx  # noqa: E402


def run_onnx(path_or_proto, x):
    source = path_or_proto if isinstance(path_or_proto, str) else path_or_proto.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def with_running_statistics(model, rng):
    """BatchNorm layers given statistics and affine weights that are not the initial ones, so that each counts."""
    for _, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            C = module.num_features
            module.running_mean = (0.3 * rng.standard_normal(C)).astype(np.float32)
            module.running_var = rng.uniform(0.5, 2.0, C).astype(np.float32)
            if module.weight is not None:
                module.weight.data = rng.uniform(0.5, 1.5, C).astype(np.float32)
                module.bias.data = (0.2 * rng.standard_normal(C)).astype(np.float32)
    return model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_experiment_models_run_the_same_in_onnxruntime(tmp_path, name):
    rng = np.random.default_rng(0)
    model = with_running_statistics(MODELS[name](generator=np.random.default_rng(1)), rng)
    export(model, Tensor(rng.standard_normal((2, 1, 28, 28)).astype(np.float32)), tmp_path / f"{name}.onnx")
    x = rng.standard_normal((5, 1, 28, 28)).astype(np.float32)  # another batch size: the batch axis is free
    np.testing.assert_allclose(run_onnx(str(tmp_path / f"{name}.onnx"), x), model.eval()(Tensor(x)).data,
                               rtol=1e-5, atol=1e-5)
    weights = {initializer.name for initializer in onnx.load(str(tmp_path / f"{name}.onnx")).graph.initializer}
    assert set(model.state_dict()) - weights <= {key for key in model.state_dict() if "num_batches" in key}


class EveryLayer(nn.Module):
    """The layers and functional ops the exporter records, in one model."""

    def __init__(self, generator):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1, bias=False, generator=generator), nn.BatchNorm2d(6), nn.ReLU(),
            nn.Dropout(0.5), nn.MaxPool2d(2), nn.Conv2d(6, 8, (3, 3), stride=2, generator=generator),
            nn.BatchNorm2d(8, affine=False), nn.AvgPool2d(2, stride=1))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5, generator=generator),
                                  nn.LogSoftmax(dim=1))
        self.side = nn.Linear(8 * 2 * 2, 5, bias=False, generator=generator)

    def forward(self, x):
        x = self.features(x)  # (N, 8, 2, 2)
        pooled = F.adaptive_avg_pool2d(x, 2) - x.mean((2, 3), keepdim=True) * 0.5
        side = F.softmax(self.side(pooled.permute(0, 1, 3, 2).flatten(1)), dim=1)
        scale = (x ** 2).sum(dim=(1, 2, 3), keepdim=True).reshape(-1, 1) / 100.0 + 1.0
        return self.head(x) + (side * 2 - 1) / scale + (F.relu(pooled).flatten(1) @ Tensor(
            np.ones((32, 5), np.float32))).exp().log().clone()


def test_every_recorded_op_and_batchnorm_run_the_same_in_onnxruntime(tmp_path):
    rng = np.random.default_rng(2)
    model = with_running_statistics(EveryLayer(np.random.default_rng(3)), rng).train()
    proto = export(model, rng.standard_normal((3, 1, 17, 17)).astype(np.float32), tmp_path / "every.onnx")
    assert all(module.training for _, module in model.named_modules())  # each module's mode given back
    ops = {node.op_type for node in proto.graph.node}
    assert {"Conv", "BatchNormalization", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "Reshape",
            "LogSoftmax", "Transpose", "ReduceMean", "ReduceSum", "Pow", "Sub", "Mul", "Add", "Div", "Exp", "Log",
            "MatMul", "Identity"} <= ops
    assert "Dropout" not in ops  # the identity in eval mode: nothing is applied
    x = rng.standard_normal((4, 1, 17, 17)).astype(np.float32)
    expected = model.eval()(Tensor(x)).data
    np.testing.assert_allclose(run_onnx(str(tmp_path / "every.onnx"), x), expected, rtol=1e-5, atol=1e-5)


def test_a_fixed_batch_when_asked(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, generator=np.random.default_rng(0)))
    proto = to_onnx(model, np.zeros((3, 1, 2, 2), np.float32), dynamic_batch=False)
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [3, 1, 2, 2]
    x = np.arange(12, dtype=np.float32).reshape(3, 1, 2, 2)
    np.testing.assert_allclose(run_onnx(proto, x), model(Tensor(x)).data, rtol=1e-6)


class Indexing(nn.Module):
    def forward(self, x):
        return x[:, :2]


class TrainOnlyNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(1, track_running_stats=False)

    def forward(self, x):
        return self.bn(x)


class OutsideTheGraph(nn.Module):
    def forward(self, x):
        return Tensor(x.data * 2)


@pytest.mark.parametrize("model, message", [
    (Indexing(), r"the model applies Index, which has no ONNX translation here \(supported: .*Conv2dFunction"),
    (TrainOnlyNorm(), r"track_running_stats=False.*needs running statistics"),
    (nn.AdaptiveAvgPool2d(2), r"adaptive_avg_pool2d from 5x5 to 2x2 has bins of unequal sizes"),
    (OutsideTheGraph(), r"the model's output was not made by tinycnn ops from its input"),
])
def test_what_cannot_be_exported_is_refused_by_name(tmp_path, model, message):
    with pytest.raises(ExportError, match=message):
        export(model, np.zeros((2, 1, 5, 5), np.float32), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
    assert Function.__dict__["apply"].__func__.__qualname__ == "Function.apply"  # the recorder is gone again


def test_without_onnx_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"needs the onnx package: pip install 'tinycnn\[onnx\]'"):
        to_onnx(nn.ReLU(), np.zeros((1, 2), np.float32))
