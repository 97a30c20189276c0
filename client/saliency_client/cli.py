"""`saliency-client submit | status | fetch` (also `saliency submit ...`): the commands that talk
to a running service. Errors print as one line, `error: ...`, and exit with status 2.

The URL comes from --url, else $SALIENCY_URL, else http://127.0.0.1:8000; the API key from
$SALIENCY_API_KEY (not a flag, so it stays out of shell history and process lists).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from saliency_client.client import Client
from saliency_client.errors import ClientError
from saliency_client.models import Job


def add_parsers(sub: Any) -> None:
    """Add the three subcommands to a subparsers object (this CLI's, or the `saliency` command's)."""
    p = sub.add_parser("submit", help="send images to a running service; prints one job id per image")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    _url(p)
    p.add_argument("--model", default=None, help="default: the service's")
    p.add_argument("--method", default=None, help="default: the service's (oise)")
    p.add_argument("--target", default=None, help="class index or label; default: top-1")
    p.add_argument("--params", default=None, help='method options as JSON, e.g. \'{"queries": 500}\'')
    p.add_argument("--queries", type=int, default=None)
    p.add_argument("--metrics", default=None, help="comma-separated: deletion, insertion")
    p.add_argument("--wait", action="store_true", help="wait for the jobs, showing progress")
    p.add_argument("--out", default=None, help="wait, then write the results here (one image: into "
                   "OUT; several: into OUT/<job id>)")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait per job")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", help="print a job's state as JSON")
    p.add_argument("job")
    _url(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("fetch", help="write a finished job's saliency.npy/.png, overlay.png, result.json")
    p.add_argument("job")
    _url(p)
    p.add_argument("--out", default=None, help="default: ./<job id>")
    p.set_defaults(func=cmd_fetch)


def _url(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None, help="the service; default $SALIENCY_URL or http://127.0.0.1:8000")


class Progress:
    """Prints a line to stderr whenever a job's status or whole-percent progress changes."""

    def __init__(self, label: str) -> None:
        self.label, self.last = label, None

    def __call__(self, job: Job) -> None:
        now = (job.status, int(job.progress * 100))
        if now != self.last:
            self.last = now
            print(f"{self.label}  {job.status:9s} {now[1]:3d}%", file=sys.stderr, flush=True)


def cmd_submit(args: argparse.Namespace) -> None:
    params = parse_params(args.params)
    if args.queries is not None:
        params["queries"] = args.queries
    options = dict(model=args.model, method=args.method, target=args.target, params=params or None,
                   metrics=args.metrics)
    with Client(args.url) as client:
        if len(args.images) == 1:
            ids = [client.submit(args.images[0], **options).job_id]
        else:
            ids = [j.job_id for j in client.submit_batch(args.images, **options).jobs]
        for job_id, image in zip(ids, args.images):
            print(f"{job_id}  {image}", flush=True)
        if args.wait or args.out:
            _wait_all(client, ids, args)


def _wait_all(client: Client, ids: list[str], args: argparse.Namespace) -> None:
    unfinished = []
    for job_id in ids:
        job = client.wait(job_id, timeout=args.timeout, progress=Progress(job_id))
        if job.status != "finished":
            unfinished.append(f"{job_id} {job.status}" + (f": {job.error}" if job.error else ""))
            continue
        line = _summary(job)
        if args.out:
            out = Path(args.out) if len(ids) == 1 else Path(args.out) / job_id
            client.fetch(job, out)
            line += f"  -> {out}"
        print(line, flush=True)
    if unfinished:
        raise ClientError(f"{len(unfinished)} of {len(ids)} jobs did not finish: " + "; ".join(unfinished))


def _summary(job: Job) -> str:
    r = job.result
    if r is None:
        return f"{job.job_id} finished"
    t = r.target
    return f"{job.job_id}  {t.label} ({t.index}) p={t.score:.3f}  {r.queries} queries  {r.seconds:.1f} s"


def cmd_status(args: argparse.Namespace) -> None:
    with Client(args.url) as client:
        print(client.status(args.job).model_dump_json(indent=2))


def cmd_fetch(args: argparse.Namespace) -> None:
    with Client(args.url) as client:
        written = client.fetch(args.job, args.out or args.job)
    for path in written.values():
        print(path)


def parse_params(raw: str | None) -> dict[str, Any]:
    """--params as a JSON object, or a ClientError that shows valid input."""
    if not raw:
        return {}
    try:
        params = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ClientError(f"--params is not valid JSON ({exc}); give an object, e.g. "
                          "--params '{\"queries\": 500, \"seed\": 1}'") from None
    if not isinstance(params, dict):
        raise ClientError("--params must be a JSON object, e.g. --params '{\"queries\": 500}'")
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="saliency-client", description=__doc__.splitlines()[0])
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
