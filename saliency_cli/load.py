"""`saliency bench load`: many submissions from concurrent clients, in two settings, and an audit
that every job reached one final state exactly once.

- API alone (`--mode api`): `python -m app` against a private Redis with its append-only file
  synced on every write (`appendfsync always`), no worker; the catalog a worker would publish is
  published first. Submissions/s and latency are the API's own cost: HTTP, form parsing,
  validation, the Redis transaction.
- Loaded (`--mode stack`): `saliency serve`'s whole stack (the same Redis settings, N workers
  running the jobs on the same cores, the API), then the exactly-once audit once all jobs end.

Both use an API key with rate limits off and the benchmarks' tiny CNN (jobs of `--queries`), and
`--api-processes` API processes (SALIENCY_API_WORKERS).
`--mode both` (the default) runs one after the other and prints them side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from saliency_cli.loadgen import audit, pending, percentiles, planted_png, submit_all, wait_final


def _env(models_file: Path, key: str, queue: str, api_processes: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALIENCY_") and k != "REDIS_URL"}
    env.update({"SALIENCY_MODELS_FILE": str(models_file), "SALIENCY_PRELOAD": "tiny",
                "SALIENCY_DEVICE": os.environ.get("SALIENCY_DEVICE", "cpu"), "SALIENCY_QUEUE": queue,
                "SALIENCY_API_KEYS": f"bench:{key}", "SALIENCY_RATE_LIMIT": "0",
                "SALIENCY_READ_RATE_LIMIT": "0", "SALIENCY_LOG_LEVEL": "WARNING",
                "SALIENCY_API_WORKERS": str(api_processes)})
    return env


def _wait(check: Any, what: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench load: {what}: the process exited with status {proc.returncode}")
        try:
            if check():
                return
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"bench load: {what} not ready within {timeout:.0f} s")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def _submissions(base: str, key: str, args: argparse.Namespace) -> Any:
    fields = {"model": "tiny", "params": json.dumps({"queries": args.queries, "chains": 20, "grid": 4})}
    return submit_all(base, {"Authorization": f"Bearer {key}"}, planted_png(), fields, args.submissions,
                      args.clients)


def _figures(sub: Any) -> dict[str, Any]:
    return {"accepted": len(sub.job_ids), "refused": sub.refused[:5], "submit_latency": percentiles(sub.latencies),
            "submit_seconds": sub.seconds, "submissions_per_s": len(sub.latencies) / sub.seconds}


def run_api_alone(args: argparse.Namespace, models_file: Path, tmp: Path) -> dict[str, Any]:
    import httpx

    from saliency_cli.serve import find_redis_server, free_port, wait_for_redis

    key, queue, port, redis_port = secrets.token_hex(16), "bench-api", free_port(), free_port()
    env = _env(models_file, key, queue, args.api_processes)
    env["SALIENCY_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    procs: list[subprocess.Popen] = []
    log = open(tmp / "api-alone.log", "wb")
    try:
        (tmp / "redis-api").mkdir()
        procs.append(subprocess.Popen([find_redis_server(), "--port", str(redis_port), "--bind", "127.0.0.1",
                                       "--dir", str(tmp / "redis-api"), "--appendonly", "yes",
                                       "--appendfsync", "always", "--save", ""], stdout=log, stderr=log))
        wait_for_redis(env["SALIENCY_REDIS_URL"], procs[0])
        subprocess.run([sys.executable, "-m", "worker", "--publish-only"], env=env, check=True, stdout=log,
                       stderr=log)
        procs.append(subprocess.Popen([sys.executable, "-m", "app", "--port", str(port), *args.api_args],
                                      env=env, stdout=log, stderr=log))
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, "the API", procs[1])
        return {"mode": f"api alone ({args.api_processes} proc)", **_figures(_submissions(base, key, args))}
    finally:
        for proc in reversed(procs):
            _stop(proc)
        log.close()


def run_stack(args: argparse.Namespace, models_file: Path, tmp: Path) -> dict[str, Any]:
    import httpx
    from redis import Redis

    from saliency_cli.serve import free_port

    key, queue, port = secrets.token_hex(16), "bench-load", free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp / "stack.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "saliency_cli", "serve", "--port", str(port), "--workers",
                                 str(args.workers), "--data-dir", str(tmp / "redis")],
                                env=_env(models_file, key, queue, args.api_processes), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait(lambda: httpx.get(f"{base}/readyz", timeout=2).json().get("workers", 0) >= args.workers,
              f"{args.workers} workers", proc)
        redis_url = next(line.split("private Redis at ")[1].split(",")[0]
                         for line in log_path.read_text().splitlines() if "private Redis at" in line)
        redis = Redis.from_url(redis_url)
        sub = _submissions(base, key, args)
        waiting = pending(redis, sub.job_ids)
        drain = wait_final(redis, sub.job_ids, timeout=args.timeout)
        return {"mode": f"loaded ({args.api_processes} proc, {args.workers} workers)", **_figures(sub),
                "pending_when_submitted": waiting,
                "all_final_seconds": sub.seconds + drain, "jobs_per_s": len(sub.job_ids) / (sub.seconds + drain),
                "audit": asdict(audit(redis, queue, sub.job_ids))}
    finally:
        _stop(proc)


def cmd(args: argparse.Namespace) -> None:
    from saliency.bench.tiny_cache import cached_tiny

    tiny, _ = cached_tiny()
    models_file = Path(tiny.spec.source) / "models.toml"
    reports = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        if args.mode in ("api", "both"):
            reports.append(run_api_alone(args, models_file, Path(tmp)))
        if args.mode in ("stack", "both"):
            reports.append(run_stack(args, models_file, Path(tmp)))
    print(f"{args.submissions} submissions from {args.clients} clients, tiny model, {args.queries} queries per job")
    for r in reports:
        lat = r["submit_latency"]
        print(f"{r['mode']:30s} {r['submissions_per_s']:7.1f} submissions/s   p50 {lat['p50_ms']:6.1f} ms   "
              f"p99 {lat['p99_ms']:6.1f} ms   max {lat['max_ms']:6.1f} ms")
    problems = [p for r in reports for p in r.get("audit", {}).get("problems", [])]
    for r in reports:
        if "audit" in r:
            a = r["audit"]
            print(f"all final after {r['all_final_seconds']:.1f} s ({r['jobs_per_s']:.1f} jobs/s); "
                  f"{r['pending_when_submitted']} jobs still waiting when the last submission returned")
            print(f"audit: {a['jobs']} jobs, {a['distinct']} distinct ids, statuses {a['statuses']}, executions "
                  f"per job {a['executions']}, run by {a['workers']} workers, re-queued {a['lost']}, left "
                  f"queued {a['still_queued']}, left started {a['still_started']}; exactly once: "
                  + ("yes" if not a["problems"] else "NO: " + "; ".join(a["problems"])))
    refused = [x for r in reports for x in r["refused"]]
    if refused:
        print(f"refused: {refused}")
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2) + "\n")
    if problems or refused:
        raise SystemExit(1)


def add_parser(bench: Any) -> None:
    p = bench.add_parser("load", help="concurrent submissions: the API alone, and the whole stack with an "
                                      "exactly-once audit")
    p.add_argument("--mode", choices=("api", "stack", "both"), default="both")
    p.add_argument("--submissions", type=int, default=500)
    p.add_argument("--clients", type=int, default=25)
    p.add_argument("--workers", type=int, default=2, help="workers of the loaded stack")
    p.add_argument("--api-processes", type=int, default=1, help="API processes (`python -m app --workers`)")
    p.add_argument("--queries", type=int, default=100, help="OISE queries per job on the tiny model")
    p.add_argument("--api-args", nargs="*", default=[], help="more arguments for `python -m app`")
    p.add_argument("--timeout", type=float, default=900, help="seconds to wait for every job to end")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.set_defaults(func=cmd)
