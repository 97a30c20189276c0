"""`saliency bench load`: many submissions from concurrent clients against a real stack, then an
audit that every job reached one final state exactly once.

The stack is `saliency serve`'s (a private Redis with its append-only file, N workers, the API with
an API key and no rate limit) serving the benchmarks' tiny CNN, so the figures are the service's
own overhead: HTTP, validation, Redis, RQ. Printed: submit latency p50/p99 (taken while the
workers are busy: jobs are still waiting when the last submission returns), submission and
completion rates, and the audit. The functions below also serve the bounded test
(tests/test_service_load.py) against the test stack.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FINAL = {"finished", "failed", "canceled", "stopped"}


@dataclass
class Submitted:
    job_ids: list[str]
    latencies: list[float]  # seconds per POST /explain, in completion order
    refused: list[str]  # "status: body" of every answer that was not 202
    seconds: float  # first submission to last answer


def submit_all(base_url: str, headers: dict[str, str], image: bytes, fields: dict[str, str],
               submissions: int, clients: int) -> Submitted:
    """`submissions` POST /explain from `clients` threads, each with its own connection."""
    import httpx

    lock = threading.Lock()
    todo = iter(range(submissions))
    out = Submitted([], [], [], 0.0)

    def client() -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
            while True:
                with lock:
                    if next(todo, None) is None:
                        return
                start = time.perf_counter()
                r = http.post("/explain", files={"image": ("load.png", image, "image/png")}, data=fields)
                took = time.perf_counter() - start
                with lock:
                    out.latencies.append(took)
                    if r.status_code == 202:
                        out.job_ids.append(r.json()["job_id"])
                    else:
                        out.refused.append(f"{r.status_code}: {r.text[:200]}")

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.seconds = time.perf_counter() - start
    return out


def pending(redis: Any, job_ids: list[str]) -> int:
    """How many of the jobs are not in a final state yet (one pipelined read)."""
    with redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(f"rq:job:{job_id}", "status")
        statuses = pipe.execute()
    return sum(1 for s in statuses if s is None or s.decode() not in FINAL)


def wait_final(redis: Any, job_ids: list[str], timeout: float) -> float:
    """Seconds until every job is final; raises TimeoutError with the count left."""
    start = time.perf_counter()
    while (left := pending(redis, job_ids)) > 0:
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"{left} of {len(job_ids)} jobs still not final after {timeout:.0f} s")
        time.sleep(0.2)
    return time.perf_counter() - start


@dataclass
class Audit:
    jobs: int
    distinct: int
    statuses: dict[str, int]
    executions: dict[int, int]  # executions recorded per job -> how many jobs
    lost: int  # jobs the janitor had to queue again
    workers: int  # distinct workers that ran them
    still_queued: int  # of these ids, in the queue's list
    still_started: int  # in the started registry
    registries_agree: bool  # each finished job in the finished registry, each failed in the failed one
    problems: list[str] = field(default_factory=list)

    @property
    def exactly_once(self) -> bool:
        return not self.problems


def audit(redis: Any, queue_name: str, job_ids: list[str]) -> Audit:
    """Every id distinct, every job final and finished, each executed exactly once, none left in
    the queue or the started registry, and the registries agreeing with the statuses."""
    from rq import Queue
    from rq.job import Job

    from jobs.queue import SERIALIZER

    queue = Queue(queue_name, connection=redis, serializer=SERIALIZER)
    statuses: Counter[str] = Counter()
    executions: Counter[int] = Counter()
    lost = 0
    workers: set[str] = set()
    finished_ids = set(queue.finished_job_registry.get_job_ids(cleanup=False))
    failed_ids = set(queue.failed_job_registry.get_job_ids(cleanup=False))
    agree = True
    for job_id in job_ids:
        job = Job.fetch(job_id, connection=redis, serializer=SERIALIZER)
        status = job.get_status(refresh=False).value
        statuses[status] += 1
        executions[len(job.results())] += 1
        lost += bool(job.meta.get("lost"))
        workers.add(job.worker_name or "")
        agree &= (status != "finished" or job_id in finished_ids) and (status != "failed" or job_id in failed_ids)
    ids = set(job_ids)
    result = Audit(
        jobs=len(job_ids), distinct=len(ids), statuses=dict(statuses), executions=dict(executions), lost=lost,
        workers=len(workers - {""}),
        still_queued=len(ids & set(queue.get_job_ids())),
        still_started=len(ids & set(queue.started_job_registry.get_job_ids(cleanup=False))),
        registries_agree=agree)
    if result.distinct != result.jobs:
        result.problems.append(f"{result.jobs - result.distinct} duplicate job ids")
    if statuses.get("finished", 0) != len(job_ids):
        result.problems.append(f"not all finished: {dict(statuses)}")
    if set(executions) != {1}:
        result.problems.append(f"executions per job: {dict(executions)}")
    if result.still_queued or result.still_started:
        result.problems.append(f"{result.still_queued} still queued, {result.still_started} still started")
    if not agree:
        result.problems.append("registries disagree with job statuses")
    return result


def percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    arr = np.asarray(values) * 1000
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99)),
            "max_ms": float(arr.max())}


def planted_png() -> bytes:
    """The service tests' kind of picture: a planted object on 56 x 40 pixels."""
    import numpy as np
    from PIL import Image

    from saliency.data.planted import make_planted

    data = make_planted(1, size=56, seed=3, distractor_rate=0.0)
    pixels = (data.images[0].transpose(1, 2, 0)[:40] * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG")
    return buf.getvalue()


# --- the command -------------------------------------------------------------------------------

def _stack_env(models_file: Path, key: str, queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALIENCY_") and k != "REDIS_URL"}
    env.update({"SALIENCY_MODELS_FILE": str(models_file), "SALIENCY_PRELOAD": "tiny",
                "SALIENCY_DEVICE": os.environ.get("SALIENCY_DEVICE", "cpu"), "SALIENCY_QUEUE": queue,
                "SALIENCY_API_KEYS": f"bench:{key}", "SALIENCY_RATE_LIMIT": "0",
                "SALIENCY_READ_RATE_LIMIT": "0", "SALIENCY_LOG_LEVEL": "WARNING"})
    return env


def _wait_ready(base: str, workers: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench load: the stack exited with status {proc.returncode}")
        try:
            body = httpx.get(f"{base}/readyz", timeout=2).json()
            if body.get("workers", 0) >= workers:
                return
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"bench load: {workers} workers not ready within {timeout:.0f} s")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from redis import Redis

    from saliency_cli.serve import free_port
    from saliency.bench.tiny_cache import cached_tiny

    tiny, _ = cached_tiny()
    models_file = Path(tiny.spec.source) / "models.toml"
    key, queue, port = secrets.token_hex(16), "bench-load", free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        log = open(Path(tmp) / "stack.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "saliency_cli", "serve", "--port", str(port), "--workers",
                                 str(args.workers), "--data-dir", str(Path(tmp) / "redis")],
                                env=_stack_env(models_file, key, queue), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_ready(base, args.workers, proc)
            redis_url = next(line.split("private Redis at ")[1].split(",")[0]
                             for line in (Path(tmp) / "stack.log").read_text().splitlines()
                             if "private Redis at" in line)
            redis = Redis.from_url(redis_url)
            fields = {"model": "tiny", "params": json.dumps({"queries": args.queries, "chains": 20, "grid": 4})}
            sub = submit_all(base, {"Authorization": f"Bearer {key}"}, planted_png(), fields,
                             args.submissions, args.clients)
            waiting = pending(redis, sub.job_ids)
            drain = wait_final(redis, sub.job_ids, timeout=args.timeout)
            report = {
                "submissions": args.submissions, "clients": args.clients, "workers": args.workers,
                "queries": args.queries, "accepted": len(sub.job_ids), "refused": sub.refused[:5],
                "submit_latency": percentiles(sub.latencies),
                "submit_seconds": sub.seconds, "submissions_per_s": len(sub.latencies) / sub.seconds,
                "pending_when_submitted": waiting,
                "all_final_seconds": sub.seconds + drain, "jobs_per_s": len(sub.job_ids) / (sub.seconds + drain),
                "audit": asdict(audit(redis, queue, sub.job_ids)),
            }
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    return report


def cmd(args: argparse.Namespace) -> None:
    report = run(args)
    lat, a = report["submit_latency"], report["audit"]
    print(f"{report['submissions']} submissions from {report['clients']} clients, {report['workers']} workers, "
          f"tiny model, {report['queries']} queries per job")
    print(f"submit latency   p50 {lat['p50_ms']:.1f} ms   p99 {lat['p99_ms']:.1f} ms   max {lat['max_ms']:.1f} ms")
    print(f"submissions      {report['submissions_per_s']:.1f}/s; {report['pending_when_submitted']} jobs "
          "still waiting when the last one returned (workers busy throughout)")
    print(f"all final after  {report['all_final_seconds']:.1f} s ({report['jobs_per_s']:.1f} jobs/s)")
    print(f"audit            {a['jobs']} jobs, {a['distinct']} distinct ids, statuses {a['statuses']}, "
          f"executions per job {a['executions']}, run by {a['workers']} workers, re-queued {a['lost']}, "
          f"left queued {a['still_queued']}, left started {a['still_started']}")
    print("exactly once     " + ("yes" if not a["problems"] else "NO: " + "; ".join(a["problems"])))
    if report["refused"]:
        print(f"refused          {report['refused']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if a["problems"] or report["refused"]:
        raise SystemExit(1)


def add_parser(bench: Any) -> None:
    p = bench.add_parser("load", help="concurrent submissions against a local stack; latency and an "
                                      "exactly-once audit (needs the test extra: httpx)")
    p.add_argument("--submissions", type=int, default=500)
    p.add_argument("--clients", type=int, default=25)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--queries", type=int, default=100, help="OISE queries per job on the tiny model")
    p.add_argument("--timeout", type=float, default=900, help="seconds to wait for every job to end")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.set_defaults(func=cmd)
