"""Runtimes: the exported network is checked against torch, cached, reused and replaced; users'
.onnx files are black-box classifiers or a clear error; gradient methods stay on torch."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from saliency.errors import ModelUnavailable, UnsupportedMethod
from saliency.methods import get_method
from saliency.models import describe, get_spec
from saliency.models.spec import LoadedModel
from saliency.models.tiny import TinyCNN, export_tiny, export_tiny_onnx
from saliency.runtimes import select
from saliency.runtimes.export import TOLERANCE, check_batch
from tests.support.tiny import tiny_onnx_entry

ENGINES = ("onnxruntime", "openvino")
CPU = torch.device("cpu")


@pytest.fixture()
def models(tiny_toml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the tiny model's folder (its own runtime cache), with tiny_onnx declared."""
    folder = tmp_path / "models"
    shutil.copytree(tiny_toml.parent, folder, ignore=shutil.ignore_patterns("*.*.onnx", "*.*.json"))
    toml = folder / "models.toml"
    toml.write_text(toml.read_text() + tiny_onnx_entry())
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(toml))
    monkeypatch.delenv("SALIENCY_RUNTIME", raising=False)
    return folder


def load(name: str = "tiny") -> LoadedModel:
    return LoadedModel(get_spec(name), CPU)  # not load_model: each test wants a fresh choice


def cached(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("tiny.pt2.*.onnx"))


def test_auto_runs_a_verified_engine_and_records_it(models: Path) -> None:
    net = load()
    rec = net.runtime_record
    assert rec["requested"] == "auto" and rec["name"] in ("torch", *ENGINES)  # the fastest here
    assert "onnxruntime" in rec["compared"] and rec["notes"] == []
    assert len(cached(models)) == 1  # exported beside the weights
    x = check_batch((32, 32), CPU)
    torch_p = select.TorchRuntime(net.module, net.logits, CPU).run(x)
    assert (net(x) - torch_p).abs().max() <= TOLERANCE


def test_onnx_is_onnx_runtime_and_a_model_key_overrides_the_environment(models: Path, monkeypatch) -> None:
    monkeypatch.setenv("SALIENCY_RUNTIME", "onnx")
    net = load()
    assert net.runtime.name == "onnxruntime" and net.runtime_record["max_prob_diff"] <= TOLERANCE
    toml = models / "models.toml"
    toml.write_text(toml.read_text().replace('[models.tiny]\n', '[models.tiny]\nruntime = "torch"\n'))
    assert load().runtime.name == "torch"
    monkeypatch.setenv("SALIENCY_RUNTIME", "fast")
    with pytest.raises(ModelUnavailable, match="'fast'; choose one of auto, torch, onnx"):
        load("tiny_onnx")


def test_auto_falls_back_to_torch_when_the_check_fails(models: Path, monkeypatch, caplog) -> None:
    """The exported graph is another network (other weights): every engine differs from torch."""
    real = select.export

    def wrong(module, logits, size, cache):
        return real(TinyCNN().eval(), logits, size, cache)
    monkeypatch.setattr(select, "export", wrong)
    net = load()
    assert net.runtime.name == "torch"
    assert any("onnxruntime differs from torch" in note for note in net.runtime_record["notes"])
    assert "onnxruntime differs from torch" in caplog.text  # the worker's log says why
    monkeypatch.setenv("SALIENCY_RUNTIME", "onnx")
    with pytest.raises(ModelUnavailable, match="runtime onnx cannot run here: onnxruntime differs"):
        load()


def test_auto_stays_on_torch_when_the_export_fails(models: Path, monkeypatch) -> None:
    def broken(*args):
        raise RuntimeError("unsupported operator aten::magic")
    monkeypatch.setattr(select, "export", broken)
    net = load()
    assert net.runtime.name == "torch"
    assert net.runtime_record["notes"] == ["ONNX export or ONNX Runtime failed "
                                           "(RuntimeError: unsupported operator aten::magic)"]


def test_the_cache_is_reused_and_replaced_when_the_weights_change(models: Path, monkeypatch) -> None:
    monkeypatch.setenv("SALIENCY_RUNTIME", "onnx")
    first = load()
    [graph] = cached(models)

    def no_export(*args):
        raise AssertionError("exported again although the cache holds this network")
    with monkeypatch.context() as patched:
        patched.setattr("saliency.runtimes.export._export", no_export)
        patched.setattr("saliency.runtimes.calibrate.measure", no_export)  # chunks are cached too
        again = load()
    assert cached(models) == [graph] and again.runtime.chunk == first.runtime.chunk
    torch.manual_seed(1)
    export_tiny(TinyCNN(), models)  # new weights in the same file (rewrites models.toml too)
    changed = load()
    [new] = cached(models)
    assert new != graph and changed.weights_sha256 != first.weights_sha256
    assert changed.runtime_record["max_prob_diff"] <= TOLERANCE  # the new network, checked


def test_a_damaged_cache_entry_is_exported_again(models: Path, monkeypatch) -> None:
    monkeypatch.setenv("SALIENCY_RUNTIME", "onnx")
    load()
    [graph] = cached(models)
    (models / "other").mkdir()
    torch.manual_seed(2)
    shutil.copy(export_tiny_onnx(TinyCNN(), models / "other"), models / graph)  # same key, another network
    net = load()
    assert net.runtime.name == "onnxruntime" and net.runtime_record["max_prob_diff"] <= TOLERANCE


def test_a_user_onnx_model_is_black_box_and_explains_like_its_torch_twin(models: Path) -> None:
    info = describe(get_spec("tiny_onnx"))
    assert info.gradients is False and info.available
    assert info.methods == sorted(m for m in info.methods if get_method(m).needs == "black-box")
    assert "oise" in info.methods and "gradcam" not in info.methods
    onnx_net, torch_net = load("tiny_onnx"), load("tiny")
    assert onnx_net.module is None and onnx_net.runtime.name in ENGINES
    # the initialisers: the weights, plus the few constants the exporter stores beside them
    assert 0 <= onnx_net.parameters - torch_net.parameters <= 8
    x = torch.randn(3, 3, 32, 32)
    params = get_method("oise").parse_params({"queries": 60, "chains": 20, "grid": 4, "seed": 3})
    a = get_method("oise").fn(onnx_net, x[:1], torch.tensor([1]), params).maps
    b = get_method("oise").fn(torch_net, x[:1], torch.tensor([1]), params).maps
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)
    with pytest.raises(UnsupportedMethod, match="needs gradients"):
        get_method("gradcam").fn(onnx_net, x[:1], torch.tensor([1]), get_method("gradcam").parse_params({}))


@pytest.mark.parametrize("extra, message", [
    ("gradients = true\n", "gradients: an .onnx model offers none"),
    ('runtime = "torch"\n', "runtime: an .onnx model runs on an ONNX engine"),
])
def test_an_onnx_entry_cannot_ask_for_torch(models: Path, extra: str, message: str) -> None:
    toml = models / "models.toml"
    toml.write_text(toml.read_text() + tiny_onnx_entry("bad", extra))
    with pytest.raises(ModelUnavailable, match=message):
        get_spec("bad")


def _graph(path: Path, inputs: list[tuple[str, list]], out_shape: list, op: str = "Flatten") -> None:
    """A one-node ONNX file: enough to be read, not a network."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node(op, [inputs[0][0]], ["out"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, out_shape)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.parametrize("inputs, out_shape, op, message", [
    ([("x", [3, 32, 32])], [1, 3072], "Flatten", "its input [3, 32, 32] has no batch dimension"),
    ([("x", ["n", 32, 32])], ["n", 1024], "Flatten", "has no batch dimension"),
    ([("x", ["n", 3, 32, 32, 1])], ["n", 3072], "Flatten", "rank 5"),
    ([("x", [1, 3, 32, 32])], [1, 3072], "Flatten", "its batch dimension is fixed at 1"),
    ([("x", ["n", 32, 32, 3])], ["n", 3072], "Flatten", "takes 32 channels, not 3 (RGB); it looks channels-last"),
    ([("x", ["n", 3, 64, 64])], ["n", 12288], "Flatten", "fixed at 64 x 64, but the models file says input_size = [32, 32]"),
    ([("x", ["n", 3, 32, 32]), ("y", ["n", 4])], ["n", 3072], "Flatten", "it takes 2 inputs (x, y)"),
    ([("x", ["n", 3, 32, 32])], ["n", 3, 32, 32], "Identity", "output for 2 images has shape [2, 3, 32, 32], not [N, classes]"),
    ([("x", ["n", 3, 32, 32])], ["n", 3072], "Flatten", "it scores 3072 classes, but its labels file names 4"),
])
def test_a_file_that_is_not_a_classifier_is_a_clear_error(models: Path, inputs, out_shape, op, message) -> None:
    _graph(models / "odd.onnx", inputs, out_shape, op)
    toml = models / "models.toml"
    toml.write_text(toml.read_text() + tiny_onnx_entry("odd").replace("tiny.onnx", "odd.onnx"))
    with pytest.raises(ModelUnavailable, match="not an image classifier") as err:
        load("odd")
    assert message in str(err.value)


def test_gradient_methods_run_on_the_torch_network(models: Path, monkeypatch) -> None:
    monkeypatch.setenv("SALIENCY_RUNTIME", "onnx")
    net = load()

    def refuse(images):
        raise AssertionError("a gradient method ran a forward pass through the ONNX runtime")
    monkeypatch.setattr(net.runtime, "run", refuse)
    x, tgt = torch.randn(1, 3, 32, 32), torch.tensor([0])
    for name in ("gradcam", "integrated_gradients"):
        spec = get_method(name)
        out = spec.fn(net, x, tgt, spec.parse_params({"steps": 4} if name == "integrated_gradients" else {}))
        assert out.maps.shape == (1, 32, 32) and torch.isfinite(out.maps).all()


def test_batches_larger_than_the_chunk_are_split(models: Path, monkeypatch) -> None:
    monkeypatch.setenv("SALIENCY_RUNTIME", "torch")
    net = load()
    net.runtime.chunk = 4
    seen: list[int] = []
    run = net.runtime.run
    monkeypatch.setattr(net.runtime, "run", lambda x: seen.append(x.shape[0]) or run(x))
    assert net(torch.randn(10, 3, 32, 32)).shape == (10, 4)
    assert seen == [4, 4, 2]


def test_the_chunk_is_the_largest_batch_within_five_percent_of_the_best() -> None:
    from saliency.runtimes.calibrate import pick

    assert pick({1: 10.0, 2: 19.0, 4: 30.0, 8: 31.0, 16: 30.0, 32: 20.0}) == 16
    assert pick({1: 100.0, 2: 50.0}) == 1


def test_a_randomised_twin_runs_its_own_network(models: Path, monkeypatch) -> None:
    """The sanity check's copy has new weights; an ONNX graph of the old ones must not answer for it."""
    from saliency.metrics.sanity import layers_of, randomised_copy

    monkeypatch.setenv("SALIENCY_RUNTIME", "onnx")
    net = load()
    twin = randomised_copy(net, layers_of(net.module))
    x = check_batch((32, 32), CPU)
    assert twin.runtime.name == "torch" and net.runtime.name == "onnxruntime"
    assert (twin(x) - net(x)).abs().max() > 0.01


@pytest.mark.parametrize("engine", ["onnx", "torch"])
def test_black_box_gives_torch_one_thread_only_beside_an_engine_with_its_own(models: Path, monkeypatch,
                                                                           engine: str) -> None:
    monkeypatch.setenv("SALIENCY_RUNTIME", engine)
    net, before = load(), torch.get_num_threads()
    seen = []
    run = net.runtime.run
    monkeypatch.setattr(net.runtime, "run", lambda x: (seen.append(torch.get_num_threads()), run(x))[1])
    x = check_batch((32, 32), CPU)
    with net.black_box():
        net(x)
    net(x)
    assert seen == ([1, before] if engine == "onnx" else [before, before])
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), net.black_box():  # restored however the block ends
        raise RuntimeError("stop")
    assert torch.get_num_threads() == before


def test_explain_runs_black_box_methods_and_metrics_beside_the_engine_and_gradients_on_torchs_threads(
        models: Path, monkeypatch) -> None:
    from PIL import Image

    import saliency.methods.gradcam as gradcam
    from saliency.explanation import explain

    monkeypatch.setenv("SALIENCY_RUNTIME", "onnx")
    net, before = load(), torch.get_num_threads()
    seen: list[int] = []
    run = net.runtime.run
    monkeypatch.setattr(net.runtime, "run", lambda x: (seen.append(torch.get_num_threads()), run(x))[1])
    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    explain(Image.fromarray(image), model=net, method="oise", params={"queries": 40, "chains": 20},
            metrics="deletion")
    assert seen[0] == before and set(seen[1:]) == {1}  # the prediction first, then method and metric
    threads_in_gradcam: list[int] = []

    class Recording(gradcam.LayerGradCam):
        def attribute(self, *args, **kwargs):
            threads_in_gradcam.append(torch.get_num_threads())
            return super().attribute(*args, **kwargs)
    monkeypatch.setattr(gradcam, "LayerGradCam", Recording)
    explain(Image.fromarray(image), model=net, method="gradcam")
    assert threads_in_gradcam and set(threads_in_gradcam) == {before} and torch.get_num_threads() == before
