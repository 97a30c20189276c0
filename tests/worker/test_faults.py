"""Faults: workers killed or stopped mid-job, jobs past their time limit, out of GPU memory, Redis
down or restarted, results that expire. Nothing may be lost, hang in `started`, or take the
service down.

These tests run their own stack (a Redis with its append-only file on, one API, workers started
and killed at will, short leases) on a queue of their own, with the `sleepy`
and `oom` methods of tests/support/methods.py loaded as a plugin by the API and the workers.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from redis import Redis
from rq.job import Job

from jobs.queue import SERIALIZER
from tests.support.processes import start_redis
from tests.support.stack import PLUGINS, Proc, enqueue, free_port, submit, submit_ok, wait_status, wait_until

LEASE = 2  # SALIENCY_JOB_LEASE
SWEEP = 0.5  # SALIENCY_JANITOR_INTERVAL
TIMEOUT = 6  # SALIENCY_JOB_TIMEOUT
KEEP = 8  # SALIENCY_RESULT_TTL and SALIENCY_FAILURE_TTL
# A lost job must leave `started` within a lease and a sweep; the rest is slack for a busy CPU.
LOST_BOUND = LEASE + SWEEP + 4
QUEUE = "faults"


@dataclass
class Stack:
    env: dict[str, str]
    logs: Path
    data: Path
    redis_port: int
    url: str
    redis_proc: Proc | None = None
    api: Proc | None = None
    workers: list[Proc] = field(default_factory=list)

    @property
    def redis(self) -> Redis:
        return Redis(port=self.redis_port, socket_timeout=5)

    def start_redis(self) -> None:
        self.redis_proc = start_redis(self.data, self.redis_port, self.env, durable=True)

    def kill_redis(self) -> None:
        assert self.redis_proc is not None
        self.redis_proc.stop(signal.SIGKILL)

    def start_worker(self) -> Proc:
        name = f"fault-worker-{len(self.workers) + 1}"
        worker = Proc(name, [sys.executable, "-m", "worker"] + ["--name", name], self.env, self.logs / f"{name}.log")
        worker.start()
        self.workers.append(worker)

        def registered() -> bool:
            worker.ensure_alive()
            return bool(self.redis.exists(f"rq:worker:{name}"))
        wait_until(registered, 90, f"{name} to register", interval=0.1)
        return worker

    @property
    def worker(self) -> Proc:
        return self.workers[-1]


@pytest.fixture(scope="module")
def stack(tiny_models_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("fault-logs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALIENCY_") and k != "REDIS_URL"}
    redis_port, api_port = free_port(), free_port()
    env.update({
        "SALIENCY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SALIENCY_QUEUE": QUEUE,
        "SALIENCY_MODELS_FILE": str(tiny_models_file),
        "SALIENCY_DEVICE": "cpu",
        "SALIENCY_PRELOAD": "tiny",
        "SALIENCY_AUTH": "off",
        "SALIENCY_PROGRESS_INTERVAL": "0.2",
        "SALIENCY_JOB_LEASE": str(LEASE),
        "SALIENCY_JANITOR_INTERVAL": str(SWEEP),
        "SALIENCY_JOB_TIMEOUT": str(TIMEOUT),
        "SALIENCY_RESULT_TTL": str(KEEP),
        "SALIENCY_FAILURE_TTL": str(KEEP),
        "SALIENCY_LOST_JOB_RETRIES": "1",
        "SALIENCY_PLUGINS": PLUGINS,
        "PYTHONUNBUFFERED": "1",
    })
    s = Stack(env, logs, tmp_path_factory.mktemp("fault-redis"), redis_port, f"http://127.0.0.1:{api_port}")
    s.start_redis()
    s.api = Proc("fault-api", [sys.executable, "-m", "app"] + ["--port", str(api_port)], env, logs / "api.log")
    s.api.start()
    try:
        def healthy() -> bool:
            s.api.ensure_alive()
            try:
                return httpx.get(f"{s.url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False
        wait_until(healthy, 90, "the fault API", interval=0.1)
        s.start_worker()
        yield s
    finally:
        for worker in s.workers:
            worker.stop(signal.SIGKILL)
        s.api.stop(signal.SIGINT)
        if s.redis_proc is not None:
            s.redis_proc.stop()


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    if not stack.worker.alive:
        stack.start_worker()
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        yield c


def sleepy(client: httpx.Client, upload, seconds: float) -> str:
    return submit_ok(client, upload.png, model="tiny", method="sleepy", params={"seconds": seconds})


def wait_running(client: httpx.Client, job_id: str) -> dict:
    def running() -> dict | None:
        body = client.get(f"/jobs/{job_id}").json()
        return body if body["status"] == "started" and body["progress"] > 0 else None
    return wait_until(running, 60, f"job {job_id} to run")


def time_until_status(client: httpx.Client, job_id: str, *statuses: str, timeout: float) -> tuple[dict, float]:
    """Poll until the job has one of `statuses`; return it and the seconds that took."""
    start = time.monotonic()

    def reached() -> dict | None:
        b = client.get(f"/jobs/{job_id}").json()
        return b if b["status"] in statuses else None
    body = wait_until(reached, timeout, f"job {job_id} to become {' or '.join(statuses)}")
    return body, time.monotonic() - start


def test_a_killed_workers_job_is_run_again(api: httpx.Client, stack: Stack, upload) -> None:
    """SIGKILL mid-job: within a lease and a sweep the job is queued again, with its upload, and
    the next worker runs it to the end, once. (The second loss, which fails the job, and the
    other cases of the policy are in tests/jobs/test_lost.py.)"""
    job = sleepy(api, upload, LEASE + 1.5)  # longer than a lease: it must be renewed to finish once
    wait_running(api, job)
    stack.worker.stop(signal.SIGKILL)
    back, seconds = time_until_status(api, job, "queued", "failed", timeout=LOST_BOUND)
    print(f"killed worker's job queued again after {seconds:.1f} s (lease {LEASE} s, sweep {SWEEP} s)")
    assert back["status"] == "queued" and back["progress"] == 0 and back["started_at"] is None
    assert stack.redis.exists(f"saliency:upload:{job}")  # kept for the next attempt

    stack.start_worker()
    done = wait_status(api, job, "finished", "failed", timeout=60)
    assert done["status"] == "finished", done["error"]
    assert api.get(f"/jobs/{job}/overlay.png").status_code == 200
    record = Job.fetch(job, connection=stack.redis, serializer=SERIALIZER)
    assert record.meta["lost"] == 1  # the kill only: the second run's lease was renewed
    assert len(record.results()) == 1  # one recorded execution: the killed one left none


def test_sigterm_lets_the_running_job_finish(api: httpx.Client, stack: Stack, upload) -> None:
    job = sleepy(api, upload, 1.5)
    wait_running(api, job)
    stack.worker.proc.send_signal(signal.SIGTERM)
    assert stack.worker.proc.wait(30) == 0
    done = wait_status(api, job, "finished", "failed", "queued", timeout=5)
    assert done["status"] == "finished", done


def test_a_second_sigterm_puts_the_job_back_in_the_queue(api: httpx.Client, stack: Stack, upload) -> None:
    job = sleepy(api, upload, 4)
    wait_running(api, job)
    stack.worker.proc.send_signal(signal.SIGTERM)
    time.sleep(1.2)  # RQ ignores a second signal within a second of the first
    stack.worker.proc.send_signal(signal.SIGTERM)
    assert stack.worker.proc.wait(30) == 0
    back = api.get(f"/jobs/{job}").json()
    assert back["status"] == "queued" and back["error"] is None, back
    assert stack.redis.exists(f"saliency:upload:{job}")
    stack.start_worker()
    done = wait_status(api, job, "finished", "failed", timeout=30)
    assert done["status"] == "finished", done["error"]


def test_a_job_past_its_time_limit_fails_with_the_reason(api: httpx.Client, upload) -> None:
    job = sleepy(api, upload, 60)
    failed = wait_status(api, job, "finished", "failed", timeout=TIMEOUT + 20)
    assert failed["status"] == "failed"
    assert f"limit of {TIMEOUT} s" in failed["error"], failed["error"]
    assert wait_status(api, sleepy(api, upload, 0.1), "finished", "failed")["status"] == "finished"


def test_out_of_gpu_memory_fails_the_job_and_the_worker_goes_on(api: httpx.Client, stack: Stack, upload) -> None:
    job = submit_ok(api, upload.png, model="tiny", method="oom")
    failed = wait_status(api, job, "finished", "failed")
    assert failed["status"] == "failed"
    assert "ran out of memory" in failed["error"] and "chains" in failed["error"], failed["error"]
    after = sleepy(api, upload, 0.1)
    assert wait_status(api, after, "finished", "failed")["status"] == "finished"
    assert stack.worker.alive
    assert "out of memory in the last job" in stack.worker.tail(200)


def test_results_expire_to_410_not_500(api: httpx.Client, upload) -> None:
    finished = sleepy(api, upload, 0.1)
    failed = submit_ok(api, upload.png, model="tiny", method="oom")
    assert wait_status(api, finished, "finished", "failed")["status"] == "finished"
    assert wait_status(api, failed, "finished", "failed")["status"] == "failed"

    def gone() -> bool:
        return all(api.get(f"/jobs/{j}").status_code == 410 for j in (finished, failed))
    wait_until(gone, KEEP + 10, "the results to expire", interval=0.5)
    for url in (f"/jobs/{finished}/overlay.png", f"/jobs/{finished}/saliency.npy", f"/jobs/{failed}/saliency.png"):
        r = api.get(url)
        assert r.status_code == 410 and r.json()["code"] == "expired", url
    assert api.delete(f"/jobs/{finished}").status_code == 410


def test_redis_down_at_submit_is_503_and_nothing_is_half_written(api: httpx.Client, stack: Stack,
                                                                 upload) -> None:
    redis = stack.redis
    redis.save()  # not needed for the AOF; makes the snapshot below independent of fsync timing
    before = set(redis.keys("saliency:*")) | set(redis.keys("rq:job:*"))
    stack.kill_redis()
    try:
        r = submit(api, upload.png, model="tiny", method="sleepy", params={"seconds": 0.1})
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "redis_unavailable" and int(r.headers["retry-after"]) > 0
        assert api.get(f"/jobs/{'0' * 32}").status_code == 503
        assert api.get("/readyz").status_code == 503
        assert api.get("/healthz").status_code == 200
    finally:
        stack.start_redis()
    assert (set(redis.keys("saliency:*")) | set(redis.keys("rq:job:*"))) - before == set()
    stack.api.ensure_alive()
    assert wait_status(api, sleepy(api, upload, 0.1), "finished", "failed", timeout=60)["status"] == "finished"


def test_a_submission_cut_off_midway_leaves_nothing(stack: Stack, upload,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection drops after the upload is prepared and before the job is queued."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import Queue

    from jobs.settings import Settings

    def lost(*args, **kwargs):
        raise RedisConnectionError("connection lost")

    settings = Settings(redis_url=stack.env["SALIENCY_REDIS_URL"], queue=QUEUE)
    before = set(stack.redis.keys("*"))
    monkeypatch.setattr(Queue, "enqueue_call", lost)
    with pytest.raises(RedisConnectionError):
        enqueue(stack.redis, settings, upload.png, method="sleepy", width=upload.width, height=upload.height)
    assert set(stack.redis.keys("*")) - before == set()  # nothing new (older results may expire)


def test_redis_restarted_under_a_running_worker(api: httpx.Client, stack: Stack, upload) -> None:
    running = sleepy(api, upload, 3)
    wait_running(api, running)
    queued = [sleepy(api, upload, 0.2) for _ in range(3)]
    stack.kill_redis()  # SIGKILL: no chance to write anything more
    time.sleep(1.0)
    stack.start_redis()  # same port and data directory: the append-only file is replayed
    for job in (running, *queued):
        done = wait_status(api, job, "finished", "failed", timeout=60)
        assert done["status"] == "finished", (job, done["error"])
    assert stack.worker.alive  # the same worker process, reconnected
