"""`saliency bench responsiveness`: how often a running job's progress moves, and how long a
cancel takes, measured over HTTP against a running service (`make run`, or any URL).

One job is submitted (the service's default options unless --params says otherwise) and polled
every --poll seconds. While it runs, every change of `progress` is timed; after --observe seconds
(or when it ends) it is canceled with POST /jobs/{id}/cancel, and the time until GET says
`canceled` is the cancel latency. Printed: time to start, the longest wait between two progress
changes (from the start to the first, between changes, and from the last to the cancel), and the
cancel latency; --json writes them with every observation. The figures depend on the machine, the
model and the method's forward chunks: this is a measurement, never a test.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any


def measure(url: str, image: bytes, fields: dict[str, str], observe: float, poll: float,
            timeout: float, headers: dict[str, str]) -> dict[str, Any]:
    import httpx

    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        r = http.post("/explain", files={"image": ("image", image, "application/octet-stream")}, data=fields)
        if r.status_code != 202:
            raise SystemExit(f"bench responsiveness: POST /explain answered {r.status_code}: {r.text}")
        job_id, submitted = r.json()["job_id"], time.monotonic()
        seen: list[tuple[float, str, float]] = []  # (seconds since submit, status, progress)
        started = cancel_sent = canceled = None
        while time.monotonic() - submitted < timeout:
            job = http.get(f"/jobs/{job_id}").json()
            now = time.monotonic() - submitted
            if not seen or (job["status"], job["progress"]) != seen[-1][1:]:
                seen.append((round(now, 3), job["status"], job["progress"]))
            if job["status"] == "started" and started is None:
                started = now
            if job["status"] in ("finished", "failed", "canceled"):
                canceled = now if job["status"] == "canceled" else None
                break
            if started is not None and cancel_sent is None and now - started >= observe:
                http.post(f"/jobs/{job_id}/cancel")
                cancel_sent = time.monotonic() - submitted
            time.sleep(poll)
    return summarise(job_id, seen, started, cancel_sent, canceled)


def summarise(job_id: str, seen: list[tuple[float, str, float]], started: float | None,
              cancel_sent: float | None, canceled: float | None) -> dict[str, Any]:
    """The longest wait between progress changes while the job ran, and the cancel latency."""
    running = [t for t, status, _ in seen if status == "started"]
    end = cancel_sent if cancel_sent is not None else (seen[-1][0] if seen else None)
    marks = ([started] if started is not None else []) + running[1:] + ([end] if end is not None else [])
    gaps = [round(b - a, 3) for a, b in zip(marks, marks[1:])]
    return {"job_id": job_id, "started_after_s": started, "final_status": seen[-1][1] if seen else None,
            "progress_changes": len(running) - 1 if running else 0, "longest_progress_gap_s": max(gaps, default=None),
            "cancel_latency_s": round(canceled - cancel_sent, 3) if canceled and cancel_sent else None,
            "observations": seen}


def cmd(args: argparse.Namespace) -> int:
    fields = {"params": args.params} if args.params else {}
    if args.model:
        fields["model"] = args.model
    key = os.environ.get("SALIENCY_API_KEY")
    res = measure(args.url, Path(args.image).read_bytes(), fields, args.observe, args.poll, args.timeout,
                  {"X-API-Key": key} if key else {})
    print(f"job {res['job_id']}: started after {res['started_after_s']} s; {res['progress_changes']} progress "
          f"changes; longest wait between them {res['longest_progress_gap_s']} s; "
          f"cancel took {res['cancel_latency_s']} s ({res['final_status']})")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


def add_parser(bench: argparse._SubParsersAction) -> None:
    p = bench.add_parser("responsiveness", help="how often a running job's progress moves and how long a "
                                                "cancel takes, against a running service")
    p.add_argument("image", help="picture to explain")
    p.add_argument("--url", default=os.environ.get("SALIENCY_URL", "http://127.0.0.1:8000"))
    p.add_argument("--model", default=None, help="default: the service's")
    p.add_argument("--params", default=None, help="method options as JSON; default: the method's defaults")
    p.add_argument("--observe", type=float, default=60.0, help="seconds of running before the cancel (60)")
    p.add_argument("--poll", type=float, default=0.1, help="seconds between two GET /jobs/{id} (0.1)")
    p.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds (900)")
    p.add_argument("--json", default=None, help="also write the figures and observations here")
    p.set_defaults(func=cmd)
