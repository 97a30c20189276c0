"""GET /jobs: the caller's jobs, newest first, filtered by status, model and method, in pages.

Cost of one page (N: the owner's jobs, P: `limit`), from the sorted sets of jobs.index:

- no filter, or model and/or method: O(log N + P) Redis reads plus reading P job records (about
  three round trips each); a model (else method) filter picks its own index, so nothing is skipped
  (with both, the method is checked on the model's index: entries of other methods are skipped);
- a status filter must read each job to learn its status, so a page reads jobs until it has P
  matches, at most SCAN_LIMIT per request; a page may then hold fewer than P jobs and still carry a
  `next_cursor`. Walk until `next_cursor` is null.

Jobs whose records have expired are skipped (and dropped from the index being read).
"""
from __future__ import annotations

from jobs.errors import JobExpired, JobNotFound
from jobs.index import JobIndex, Position
from jobs.state import Jobs, JobState

SCAN_LIMIT = 500  # job records one status-filtered page may read
MAX_PAGE = 100


def list_jobs(jobs: Jobs, owner: str, *, status: str | None = None, model: str | None = None,
              method: str | None = None, limit: int = 20,
              cursor: str | None = None) -> tuple[list[JobState], str | None]:
    """One page of `owner`'s jobs and the cursor of the next one (None at the end)."""
    index: JobIndex = jobs.index
    after = Position.decode(cursor) if cursor else None
    key = index.key(owner, model, method)
    check_method = method if model is not None else None  # the model's index holds every method
    chunk = limit + 1 if status is None and check_method is None else max(limit + 1, 50)
    found: list[JobState] = []
    entries = index.walk(key, after, chunk)
    scanned = 0
    for position in entries:
        scanned += 1
        try:
            state: JobState | None = jobs.state(position.job_id)
        except (JobExpired, JobNotFound):
            index.forget(key, position.job_id)
            state = None
        if state is not None and (status is None or state.status == status) and \
                (check_method is None or state.request.get("method") == check_method):
            found.append(state)
        if len(found) == limit or scanned >= SCAN_LIMIT:
            # More to come only if the index goes on: peek one entry (it is read again next page).
            return found, position.encode() if next(entries, None) is not None else None
    return found, None
