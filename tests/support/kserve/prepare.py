"""Set up the remote-model benchmark (docs/benchmarks.md): train the tiny CNN, export its weights
for tests/support/kserve/server.py, and write the server's model list and a models file that
declares each served model once per protocol: the tiny CNN as remote_v2, remote_v2_json,
remote_grpc, remote_v1, and a `null` model that answers without computing (its cost is all in the
protocol) as null_v2, null_v2_json, null_grpc, null_v1.

    .venv/bin/python tests/support/kserve/prepare.py OUT --size 224 --http 8080 --grpc 8081
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run as a script from anywhere

from saliency.models.tiny import export_tiny, train_tiny  # noqa: E402
from tests.support.remote import TINY, export_weights, write_models  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=224, help="input side in pixels the endpoint takes")
    parser.add_argument("--http", type=int, default=8080)
    parser.add_argument("--grpc", type=int, default=8081)
    args = parser.parse_args()
    model, _ = train_tiny(n=600, epochs=1)  # its accuracy does not matter to a throughput figure
    toml = export_tiny(model, args.out)
    weights = export_weights(toml, args.out / "tiny.npz")
    served = [{"name": "tiny", "size": args.size}, {"name": "null", "size": args.size, "behaviour": "null"}]
    (args.out / "server.json").write_text(json.dumps({"weights": str(weights), "models": served}))
    http, grpc = f"http://127.0.0.1:{args.http}", f"grpc://127.0.0.1:{args.grpc}"
    common = {**TINY, "input_size": [args.size, args.size], "labels": str(args.out / "tiny_labels.txt")}
    models = {}
    for prefix, name in (("remote", "tiny"), ("null", "null")):
        models.update({
            f"{prefix}_v2": {"url": f"{http}/v2/models/{name}", **common},
            f"{prefix}_v2_json": {"url": f"{http}/v2/models/{name}", "binary": False, **common},
            f"{prefix}_grpc": {"url": f"{grpc}/{name}", "protocol": "v2-grpc", **common},
            f"{prefix}_v1": {"url": f"{http}/v1/models/{name}", "protocol": "v1", **common},
        })
    write_models(args.out / "models.toml", models)
    print(f"KSERVE_TEST_MODELS={args.out / 'server.json'} .venv-kserve/bin/python tests/support/kserve/server.py "
          f"--http_port {args.http} --grpc_port {args.grpc}")
    print(f"SALIENCY_MODELS_FILE={args.out / 'models.toml'} .venv/bin/saliency bench throughput --model remote_v2")


if __name__ == "__main__":
    main()
