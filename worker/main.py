"""Start one RQ worker: connect to Redis, load the models to keep, take jobs until stopped.

Why rq's SimpleWorker: RQ's default Worker forks a child ("work horse") per job. A CUDA context
does not survive fork (the child of a process that initialised CUDA cannot use it), and a model
loaded in a child is thrown away when the child exits, so every job would reload its model.
SimpleWorker runs each job in the worker process itself: the model is loaded once, stays on the
device, and later jobs reuse it through saliency.models.load_model's per-process cache. The price
is that a job which crashes the interpreter takes the worker with it; run workers under a
supervisor (compose's `restart:`, systemd); their jobs are queued again or failed by the janitor
(worker.reliable, jobs.lost).

Every worker takes the predict queue before the explain queue (one forward pass must not wait
behind explanations not yet started), and publishes the models it can run (worker.catalog).

Job timeouts still hold: SimpleWorker arms SIGALRM around the job in this (main) thread.
Stopping: SIGTERM or Ctrl-C lets a running job finish (warm shutdown); a second one stops it now
and the job goes back to the front of the queue.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
import uuid

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobs import queue
from jobs.settings import get_settings
from saliency.catalog.methods import load_plugins
from saliency.errors import Cancelled, SaliencyError
from worker.catalog import Publisher
from worker.metrics import METRICS
from worker.reliable import ReliableWorker

log = logging.getLogger("worker")
REDIS_RETRIES = 10  # 0.2 + 0.4 + ... capped at 5 s: about 30 s in all


class Worker(ReliableWorker):
    def handle_exception(self, job, *exc_info):  # noqa: ANN001 - RQ's signature
        """A job stopped on request is not an error worth a traceback in the log."""
        if exc_info and isinstance(exc_info[1], Cancelled):
            self.log.info("Worker %s: job %s canceled on request", self.name, job.id)
            return
        super().handle_exception(job, *exc_info)


def connect(url: str, wait: float) -> Redis:
    """Wait up to `wait` seconds for Redis: in compose the worker may start before it."""
    # Retried with backoff for about half a minute: a Redis restart pauses the running job's writes
    # instead of failing the job.
    conn = Redis.from_url(url, health_check_interval=30,
                          retry=Retry(ExponentialBackoff(cap=5.0, base=0.2), REDIS_RETRIES))
    deadline = time.monotonic() + wait
    while True:
        try:
            conn.ping()
            return conn
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"worker: Redis at {url} does not answer ({exc})") from None
            time.sleep(0.5)


def preload(names: list[str]) -> None:
    """Load models before taking jobs so the first job does not pay for it. A model that
    cannot load is logged, not fatal: jobs for it fail with the library's message."""
    from saliency.models import default_device, load_model

    for name in names:
        start = time.perf_counter()
        try:
            load_model(name)
        except Exception as exc:  # noqa: BLE001 - any failure is reported the same way
            log.error("could not preload model %s: %s", name, exc)
            continue
        log.info("loaded %s on %s in %.1f s", name, default_device(), time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__.splitlines()[0])
    parser.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    parser.add_argument("--publish-only", action="store_true",
                        help="publish the models this machine can run (for the API's catalog), then exit")
    parser.add_argument("--name", help="worker name in Redis (default: host.pid.random)")
    parser.add_argument("--log-level", help="default: SALIENCY_LOG_LEVEL")
    parser.add_argument("--redis-wait", type=float, default=30.0,
                        help="seconds to wait for Redis at start (default 30)")
    args = parser.parse_args(argv)
    settings = get_settings()
    level = (args.log_level or settings.log_level).upper()
    logging.basicConfig(level=level, stream=sys.stdout,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    load_plugins()
    conn = connect(settings.redis_url, args.redis_wait)
    name = args.name or f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    try:
        if not args.publish_only:
            preload(settings.preload_models())
        publisher = Publisher(conn, settings, name)
        log.info("published %d runnable models", publisher.publish_once())
    except KeyboardInterrupt:
        return 130
    except SaliencyError as exc:  # a models file that cannot be read: say so and stop
        raise SystemExit(f"worker: cannot describe the models it would run: {exc}") from None
    if args.publish_only:
        return 0
    queues = [queue.predict_queue(conn, settings), queue.explain_queue(conn, settings)]
    worker = Worker(queues, connection=conn, name=name, serializer=queue.SERIALIZER, settings=settings)
    from saliency.models import default_device

    METRICS.serve(settings.worker_metrics_port, name, str(default_device()))
    publisher.start()
    try:
        worker.work(burst=args.burst, logging_level=level)
    finally:
        publisher.stop()
    return 0
