"""`saliency bench throughput --model <remote>` against the test KServe server: one run prints the
endpoint's forward rate, the method's query rate and their ratio, and names the endpoint. The
figures are printed, never judged: benchmarks are not timed tests."""
import json

import pytest

from saliency_cli.main import main
from tests.support.processes import free_port
from tests.support.remote import KServe, write_models


def test_bench_throughput_of_a_remote_model(kserve: KServe, tmp_path, monkeypatch: pytest.MonkeyPatch,
                                            capsys) -> None:
    name = f"bench_{free_port()}"  # load_model caches by name: one of its own
    write_models(tmp_path / "models.toml", {name: kserve.entry("tiny", "v2-grpc", in_flight=2)})
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tmp_path / "models.toml"))
    out = tmp_path / "bench.json"
    assert main(["bench", "throughput", "--model", name, "--chains", "8", "--chunk", "8", "--steps", "2",
                 "--rounds", "1", "--seconds", "0.5",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"endpoint {kserve.grpc}/tiny  v2-grpc, binary tensors  max_batch 64  in_flight 2" in printed
    figures = json.loads(out.read_text())
    (endpoint,) = figures["runtimes"]  # a remote model's one runtime: its endpoint
    assert endpoint["runtime"] == "remote-v2-grpc" and endpoint["rate"] > 0
    assert figures["method_run"]["runtime"] == "remote-v2-grpc" and figures["method_run"]["rate"] > 0
    assert figures["ratio"] == pytest.approx(figures["method_run"]["rate"] / endpoint["rate"])
    assert figures["remote"]["protocol"] == "v2-grpc"
