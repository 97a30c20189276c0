"""The client side of `saliency bench load` (and of tests/cli/test_load.py): submissions from
concurrent clients, waiting for the jobs to end, and the audit that each ran exactly once."""
from __future__ import annotations

import asyncio
import io
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

FINAL = {"finished", "failed", "canceled", "stopped"}


@dataclass
class Submitted:
    job_ids: list[str]
    latencies: list[float]  # seconds per POST /explain, in completion order
    refused: list[str]  # "status: body" of every answer that was not 202
    seconds: float  # first submission to last answer


def multipart(fields: dict[str, str], image: bytes, filename: str = "load.png") -> tuple[bytes, str]:
    """A multipart/form-data body with the image part and text fields, and its content type."""
    boundary = secrets.token_hex(16)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
                 "Content-Type: image/png\r\n\r\n".encode() + image + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def submit_all(base_url: str, headers: dict[str, str], image: bytes, fields: dict[str, str],
               submissions: int, clients: int) -> Submitted:
    """`submissions` POST /explain from `clients` keep-alive connections. The requests are built
    once and written raw (HTTP/1.1 over asyncio), so the load generator spends microseconds per
    request and the figures are the service's, not the client's."""
    return asyncio.run(_submit_all(base_url, headers, image, fields, submissions, clients))


async def _submit_all(base_url: str, headers: dict[str, str], image: bytes, fields: dict[str, str],
                      submissions: int, clients: int) -> Submitted:
    url = urlsplit(base_url)
    body, content_type = multipart(fields, image)
    head = ["POST /explain HTTP/1.1", f"Host: {url.netloc}", f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    out, todo = Submitted([], [], [], 0.0), iter(range(submissions))

    async def client() -> None:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            while next(todo, None) is not None:
                start = time.perf_counter()
                writer.write(request)
                status, answer = await _response(reader)
                out.latencies.append(time.perf_counter() - start)
                if status == 202:
                    out.job_ids.append(json.loads(answer)["job_id"])
                else:
                    out.refused.append(f"{status}: {answer[:200].decode(errors='replace')}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    out.seconds = time.perf_counter() - start
    return out


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(v) for k, _, v in (line.partition(":") for line in lines[1:])
                  if k.strip().lower() == "content-length")
    return int(lines[0].split()[1]), await reader.readexactly(length)


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
