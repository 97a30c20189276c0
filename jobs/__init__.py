"""The service core: what the API (app/) and the workers (worker/) share, and nothing of HTTP or
of RQ's worker loop. Settings; the Redis data model (every key family in keys.py, the job-meta
fields in meta.py); job submission and state; the job index; batch, reconstruction and webhook
records; idempotency; the audit; request validation against the model catalog; lost jobs.

Torch-free: the API imports all of it. Each concept owns its Redis keys and their serialisation.
"""
