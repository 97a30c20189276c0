"""The lost-job policy of jobs.lost, on real RQ records in a real Redis, without workers: a
job is put in the state a worker leaves it in when it dies mid-job, then the janitor sweeps."""
from __future__ import annotations

import io
import threading
import time

import pytest
from PIL import Image
from redis import Redis
from rq import Queue
from rq.executions import Execution
from rq.job import Job, JobStatus

from jobs import lost
from jobs.lost import reap
from jobs.queue import SERIALIZER
from jobs.settings import Settings
from jobs.state import Jobs
from jobs.store import Store
from tests.support.stack import enqueue

LEASE = 5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The conftest's (a queue and key prefix of this test's own) with a short lease."""
    return settings.model_copy(update={"job_lease": LEASE, "lost_job_retries": 1, "job_timeout": 60,
                                       "failure_ttl": 300})


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    return buf.getvalue()


def running_job(redis: Redis, settings: Settings, started_ago: float = 0.0) -> str:
    """Submit a job and leave it as a worker does once it took it: dequeued, `started`, and
    registered in the started registry for one lease, which nobody renews."""
    job_id = enqueue(redis, settings, _png(), owner="alice")
    queue = Queue(settings.queue, connection=redis, serializer=SERIALIZER)
    assert redis.lrem(queue.key, 0, job_id) == 1
    job = Job.fetch(job_id, connection=redis, serializer=SERIALIZER)
    with redis.pipeline() as pipe:
        job.prepare_for_execution("dead-worker", pipe)
        Execution.create(job, LEASE, pipe, worker_name="dead-worker")
        pipe.execute()
    if started_ago:
        job.started_at = job.started_at.fromtimestamp(time.time() - started_ago, job.started_at.tzinfo)
        job.save()
    return job_id


def after_lease() -> float:
    return time.time() + LEASE + 1


def fetch(redis: Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=redis, serializer=SERIALIZER)


def test_nothing_happens_while_the_lease_holds(redis: Redis, settings: Settings) -> None:
    job_id = running_job(redis, settings)
    assert reap(redis, settings) == []
    assert fetch(redis, job_id).get_status() == JobStatus.STARTED


def test_a_lost_job_is_queued_again_at_the_front_then_failed(redis: Redis, settings: Settings) -> None:
    queue = Queue(settings.queue, connection=redis, serializer=SERIALIZER)
    store = Store(redis, settings)
    job_id = running_job(redis, settings)
    waiting = enqueue(redis, settings, _png(), owner="bob")

    assert reap(redis, settings, cutoff=after_lease()) == [(job_id, "requeued")]
    job = fetch(redis, job_id)
    assert job.get_status() == JobStatus.QUEUED and job.meta["lost"] == 1 and job.started_at is None
    assert queue.get_job_ids() == [job_id, waiting]  # ahead of the job submitted after it
    assert queue.started_job_registry.get_job_ids(cleanup=False) == []
    assert store.get_upload(job_id) is not None and store.owner_of(job_id) == "alice"

    # Taken again, lost again: one retry is all it gets.
    assert redis.lrem(queue.key, 0, job_id) == 1
    with redis.pipeline() as pipe:
        job.prepare_for_execution("dead-worker-2", pipe)
        Execution.create(job, LEASE, pipe, worker_name="dead-worker-2")
        pipe.execute()
    assert reap(redis, settings, cutoff=after_lease()) == [(job_id, "failed")]
    job = fetch(redis, job_id)
    assert job.get_status() == JobStatus.FAILED
    assert "lost 2 times" in job.meta["error"] and job.ended_at is not None
    assert job_id in queue.failed_job_registry.get_job_ids()
    assert 0 < redis.ttl(job.key) <= settings.failure_ttl  # failed records expire like any other
    assert store.get_upload(job_id) is None
    assert Jobs(redis, settings).state(job_id).status == "failed"


def test_a_job_past_its_time_limit_is_not_run_again(redis: Redis, settings: Settings) -> None:
    job_id = running_job(redis, settings, started_ago=settings.job_timeout + 1)
    assert reap(redis, settings, cutoff=after_lease()) == [(job_id, "failed")]
    assert "time limit of 60 s" in Jobs(redis, settings).state(job_id).error


def test_a_lost_job_its_owner_canceled_ends_canceled(redis: Redis, settings: Settings) -> None:
    job_id = running_job(redis, settings)
    Store(redis, settings).request_cancel(job_id)
    assert reap(redis, settings, cutoff=after_lease()) == [(job_id, "canceled")]
    assert Jobs(redis, settings).state(job_id).status == "canceled"


def test_a_lease_renewed_while_the_janitor_decides_wins(redis: Redis, settings: Settings,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker was slow, not dead: its renewal lands between the janitor's read and its write."""
    job_id = running_job(redis, settings)
    registry_key = Queue(settings.queue, connection=redis).started_job_registry.key
    real_fetch = lost.queue.fetch
    renewed = []

    def fetch_then_renew(*args, **kwargs):
        job = real_fetch(*args, **kwargs)
        if not renewed:  # once, like one renewal landing at the worst moment
            entry = redis.zrange(registry_key, 0, -1)[0]
            renewed.append(redis.zadd(registry_key, {entry: after_lease() + 60}, xx=True))
        return job

    monkeypatch.setattr(lost.queue, "fetch", fetch_then_renew)  # the janitor reads the job through it
    assert reap(redis, settings, cutoff=after_lease()) == []
    assert renewed == [0]  # ZADD XX updated the entry (0 added)
    assert fetch(redis, job_id).get_status() == JobStatus.STARTED


def test_concurrent_janitors_act_on_each_job_once(redis: Redis, settings: Settings) -> None:
    """The API processes and every worker sweep; a lost job must still be queued again once."""
    jobs = [running_job(redis, settings) for _ in range(12)]
    cutoff = after_lease()
    results: list[list[tuple[str, str]]] = []
    threads = [threading.Thread(target=lambda: results.append(reap(redis, settings, cutoff=cutoff)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    acted = sorted(job for sweep in results for job, _ in sweep)
    assert acted == sorted(jobs)
    queued = Queue(settings.queue, connection=redis, serializer=SERIALIZER).get_job_ids()
    assert sorted(queued) == sorted(jobs)  # each id once in the queue
