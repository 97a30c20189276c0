"""DELETE /jobs/{id}: remove a final job's data before its TTL, for privacy.

Everything the job left is deleted in one transaction: the upload and results (jobs.store), RQ's
record and result, its entries in the owner's indexes (jobs.index), its webhook log and pending
deliveries (jobs.webhooks), and its reconstructions with the kept image (jobs.reconstructions).
The id record stays until `record_ttl`: it holds no data, only the owner, so the id answers
410 (and the owner check still applies) rather than 404.

A job that is queued or running is refused (409): cancel it first (POST /jobs/{id}/cancel), so a
worker never runs a job whose upload vanished under it.
"""
from __future__ import annotations

from jobs import meta, queue, webhooks
from jobs.errors import JobConflict
from jobs.reconstructions import Reconstructions


def delete_job(recons: Reconstructions, job_id: str) -> None:
    """Remove the job's data; JobConflict unless it is final, JobExpired/JobNotFound as GET says."""
    jobs = recons.jobs
    job = jobs.fetch(job_id)
    status = queue.status_of(job)
    if status not in queue.FINAL:
        raise JobConflict(f"job {job_id} is {status}; cancel it first (POST /jobs/{job_id}/cancel), then "
                          "delete it once it is canceled")
    request = meta.request(job)
    owner = jobs.store.owner_of(job_id) or ""
    with jobs.redis.pipeline() as pipe:
        job.delete(pipeline=pipe, remove_from_queue=True)
        jobs.store.drop_data(job_id, pipe)
        jobs.index.remove(pipe, job_id, owner, request.get("model", ""), request.get("method", ""))
        webhooks.forget(pipe, jobs.settings, job_id)
        recons.forget(job_id, pipe)
        pipe.execute()
