"""`saliency bench throughput`, `end-to-end` and `variants` on the tiny model, kept small: they print
and write their figures (the figures themselves are measurements, never asserted)."""
import json

import pytest

from saliency_cli.main import main


@pytest.fixture()
def tiny_models(tiny_toml, monkeypatch):
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    monkeypatch.delenv("SALIENCY_RUNTIME", raising=False)


def test_throughput_lists_every_runtime_and_the_method(tiny_models, tmp_path, capsys):
    """Every phase runs in a child process of its own: the figures come back and are printed."""
    out = tmp_path / "t.json"
    assert main(["bench", "throughput", "--model", "tiny", "--chains", "16", "--steps", "1", "--rounds", "1",
                 "--seconds", "0", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    names = [r["runtime"] for r in res["runtimes"]]
    assert names[:2] == ["torch", "onnxruntime"] and res["not_run"] == {}
    assert all(r["rate"] > 0 and r["chunk"] >= 1 and r["peak_mib"] >= r["added_mib"] >= 0 for r in res["runtimes"])
    method, same = res["method_run"], res["forward_same_setting"]
    assert method["runtime"] in names and same["runtime"] == method["runtime"] and same["chunk"] == method["chunk"]
    assert res["params"] == {"queries": 16, "chains": 16}
    assert res["ratio"] == pytest.approx(method["rate"] / max(r["rate"] for r in res["runtimes"]))
    printed = capsys.readouterr().out
    assert "onnxruntime" in printed and "ratio to the fastest runtime's forward" in printed


def test_end_to_end_times_a_whole_explain_process(tiny_models, tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["bench", "end-to-end", "--model", "tiny", "--queries", "40", "--batch", "10", "--runs", "1",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    [run] = res["explain_runs"]
    assert run["queries"] == 40 and run["seconds"] > run["method_seconds"] > 0
    assert res["ratio_first"] == pytest.approx(run["seconds"] / res["torch_forward_seconds"], rel=0.05)  # both rounded
    assert "fresh runtime cache" in capsys.readouterr().out


def test_variants_smoke_on_the_cpu(tiny_models, tmp_path, capsys):
    """The GPU comparison (.ci/gpu-bench) with tiny settings: every variant runs, maps are compared."""
    out = tmp_path / "v.json"
    assert main(["bench", "variants", "--models", "tiny", "--variants", "channels_last_bf16,onnxruntime",
                 "--batches", "2,4", "--seconds", "0", "--images", "2", "--queries", "32", "--device", "cpu",
                 "--json", str(out)]) == 0
    [res] = json.loads(out.read_text())["models"]
    assert [r["variant"] for r in res["rows"]] == ["eager", "channels_last_bf16", "onnxruntime"]
    assert all(set(r["images_per_s"]) == {"2", "4"} for r in res["rows"])
    assert len(res["pearson_vs_eager"]) == 2 and res["fastest"] in ("eager", "channels_last_bf16", "onnxruntime")
    assert "Pearson per picture" in capsys.readouterr().out
