"""The service's own errors, in the library's vocabulary (saliency.errors): each carries its HTTP
status and code, and app/errors.py turns any of them into the one JSON error body."""
from __future__ import annotations

from saliency.errors import SaliencyError


class JobNotFound(SaliencyError):
    """Never issued, or another API key's (the same answer, so ids do not leak)."""

    status = 404
    code = "job_not_found"


class JobExpired(SaliencyError):
    """The id was issued; its data has expired."""

    status = 410
    code = "expired"


class JobConflict(SaliencyError):
    """The job is not in a state that allows the request."""

    status = 409
    code = "conflict"


class NoArtifact(SaliencyError):
    """The job finished, but its method does not make this artifact (uncertainty of occlusion)."""

    status = 404
    code = "no_artifact"


class BatchNotFound(SaliencyError):
    status = 404
    code = "batch_not_found"


class UploadTooLarge(SaliencyError):
    status = 413
    code = "upload_too_large"


class TooManyImages(SaliencyError):
    code = "too_many_images"
    default_field = "images"


class IdempotencyKeyReused(SaliencyError):
    """The key was used for a different request (IETF Idempotency-Key draft: 422)."""

    code = "idempotency_key_reused"
    default_field = "Idempotency-Key"


class IdempotencyInProgress(SaliencyError):
    """The first request with this key is still being processed (IETF draft: 409)."""

    status = 409
    code = "idempotency_in_progress"


class BadIdempotencyKey(SaliencyError):
    code = "invalid_idempotency_key"
    default_field = "Idempotency-Key"


class CallbackRefused(SaliencyError):
    """A callback URL a worker may not call; the message says why."""

    code = "invalid_callback_url"
    default_field = "callback_url"


class WebhooksDisabled(SaliencyError):
    code = "webhooks_disabled"
    default_field = "callback_url"


class WebhooksOff(SaliencyError):
    """No master secret: there is no signing secret to show or rotate."""

    status = 404
    code = "webhooks_disabled"


class BadCursor(SaliencyError):
    code = "invalid_cursor"
    default_field = "cursor"


class NoWorker(SaliencyError):
    """Nothing can answer now (POST /predict found no free worker in time)."""

    status = 503
    code = "no_worker"
