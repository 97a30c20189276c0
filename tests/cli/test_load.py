"""Under concurrent load no job is lost or run twice: the bounded version of `saliency bench load`
(saliency_cli/load.py) against the test stack, with a second worker racing the first for the queue."""
from __future__ import annotations

import json
import sys

from saliency_cli.loadgen import audit, percentiles, submit_all, wait_final
from tests.support.stack import QUEUE, Proc, Service, wait_until

SUBMISSIONS = 60
CLIENTS = 6
CHEAP = {"queries": 20, "chains": 10, "grid": 4}


def test_every_job_reaches_one_final_state_exactly_once(running_worker: Service, upload) -> None:
    service = running_worker
    second = Proc("worker-2", [sys.executable, "-m", "worker", "--name", "load-worker-2"], service.env,
                  service.logs / "worker-2.log")
    second.start()
    try:
        def registered() -> bool:
            second.ensure_alive()
            return bool(service.redis.exists("rq:worker:load-worker-2"))
        wait_until(registered, 90, "the second worker", interval=0.1)

        sub = submit_all(service.url, {}, upload.png, {"model": "tiny", "params": json.dumps(CHEAP)},
                         SUBMISSIONS, CLIENTS)
        assert sub.refused == []
        assert len(sub.job_ids) == SUBMISSIONS
        wait_final(service.redis, sub.job_ids, timeout=180)
        result = audit(service.redis, QUEUE, sub.job_ids)
        assert result.problems == []
        assert result.executions == {1: SUBMISSIONS} and result.statuses == {"finished": SUBMISSIONS}
        assert result.workers == 2  # both workers took jobs from the same queue
        lat = percentiles(sub.latencies)
        print(f"{SUBMISSIONS} submissions, {CLIENTS} clients: submit p50 {lat['p50_ms']:.0f} ms, "
              f"p99 {lat['p99_ms']:.0f} ms")
    finally:
        assert second.stop() == 0, second.tail()
