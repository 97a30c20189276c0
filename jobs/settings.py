"""Every setting of the service (API and worker) in one place, read from SALIENCY_* variables.

The README's settings table lists the same fields. The library's own variables (SALIENCY_DEVICE,
SALIENCY_MODELS_FILE, SALIENCY_OFFLINE, SALIENCY_PLUGINS) are read by saliency/ itself and are not
fields here.
"""
from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SALIENCY_", extra="ignore")

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        # REDIS_URL is what most platforms set; the prefixed name wins when both are present.
        validation_alias=AliasChoices("SALIENCY_REDIS_URL", "REDIS_URL"),
        description="Redis shared by the API and all workers (jobs, uploads, results)",
    )
    queue: str = Field("saliency", description="RQ queue name; API and workers must agree")
    key_prefix: str = Field("saliency", description="prefix of the service's own Redis keys")
    log_level: str = Field("INFO", description="log level of `python -m app` and `python -m worker`")

    # HTTP
    host: str = Field("127.0.0.1", description="address `python -m app` binds")
    port: int = Field(8000, ge=1, le=65535, description="port `python -m app` binds")
    api_workers: int = Field(1, ge=1, le=64, description="processes `python -m app` serves with (each an "
                             "event loop on one core; /metrics sums them)")
    root_path: str = Field("", description="path prefix a proxy serves the API under and strips (e.g. "
                                           "/saliency): given to uvicorn, so the API docs find their schema")
    default_model: str = Field("efficientnet_lite0", description="model when a request names none")
    default_method: str = Field("oise", description="method when a request names none")
    max_upload_bytes: int = Field(20 * MB, ge=1, description="largest accepted image file (413 above)")
    max_batch_images: int = Field(16, ge=1, description="most images in one POST /batches (422 above)")
    max_batch_bytes: int = Field(64 * MB, ge=1, description="largest POST /batches body, all images together "
                                 "(413 above)")

    # Jobs and storage
    job_timeout: int = Field(600, ge=1, description="seconds a job may run before it fails")
    upload_ttl: int = Field(86400, ge=1, description="seconds an upload waits in Redis for a worker")
    result_ttl: int = Field(86400, ge=1, description="seconds results (map, PNGs, summary) are kept")
    failure_ttl: int = Field(86400, ge=1, description="seconds failed and canceled jobs are kept")
    record_ttl: int = Field(
        7 * 86400, ge=1,
        description="seconds a job id is remembered after its data expired, to answer 410 not 404")

    # Catalog (jobs.catalog) and POST /predict (jobs.predict)
    catalog_refresh: float = Field(
        30.0, gt=0, description="seconds between a worker's publications of the models it can run")
    catalog_ttl: int = Field(
        86400, ge=1, description="seconds a worker's published models stay listed after its last publication")
    predict_timeout: float = Field(
        10.0, gt=0, description="seconds POST /predict waits for a worker before answering 503")

    # Worker
    progress_interval: float = Field(
        0.5, gt=0, description="least seconds between progress writes and cancel checks")
    preload: str = Field(
        "", description="comma-separated models a worker loads at start; empty: the default model; "
                        "`none`: load on first use")

    # Security (app/middleware/auth.py, app/middleware/ratelimit.py)
    auth: bool = Field(
        True, description="`off` serves without API keys, for local use only (`make run` sets it)")
    api_keys: str = Field(
        "", description="comma-separated `name:secret` pairs; a job is visible only to its key's name")
    rate_limit: int = Field(30, ge=0, description="submissions per minute per API key (0: no limit)")
    read_rate_limit: int = Field(
        600, ge=0, description="other requests per minute per API key (0: no limit)")
    cors_origins: str = Field("", description="comma-separated origins allowed by CORS; empty: CORS off")
    max_active_jobs: int = Field(
        8, ge=0, description="jobs one API key may have queued or running at once; more wait, `held` "
                             "(0: no cap; no cap without API keys)")

    # Lost jobs (jobs/lost.py)
    job_lease: int = Field(
        30, ge=1, description="seconds a running job's worker may stay silent before its job counts as lost")
    janitor_interval: float = Field(5.0, gt=0, description="seconds between sweeps for lost jobs")
    lost_job_retries: int = Field(
        1, ge=0, description="times a lost job is queued again before it is marked failed")

    # Metrics (app/prom.py, worker/metrics.py)
    worker_metrics_port: int = Field(
        0, ge=0, le=65535,
        description="port a worker serves its Prometheus metrics on (0: off; `make run` uses 9101 and up)")

    # Webhooks (jobs/webhooks.py, worker/webhooks.py)
    webhook_secret: str = Field(
        "", description="master secret each API key name's webhook signing secret is derived from "
                        "(jobs/webhook_secrets.py); empty: callback_url is refused")
    webhook_secret_grace: int = Field(
        86400, ge=0, description="seconds a rotated-out webhook secret still signs deliveries beside the new one")
    webhook_progress_interval: float = Field(
        5.0, gt=0, description="least seconds between two `progress` webhook events of one job")
    webhook_allowed_hosts: str = Field(
        "", description="comma-separated hosts callback URLs may name (`*.example.com` allowed); "
                        "empty: any host that passes the private-address check")
    webhook_allow_private: bool = Field(
        False, description="allow callbacks to loopback, private, link-local and reserved addresses")
    webhook_timeout: float = Field(5.0, gt=0, description="seconds one delivery attempt may take")
    webhook_attempts: int = Field(6, ge=1, description="delivery attempts before giving up")
    webhook_backoff: float = Field(
        2.0, gt=0, description="seconds before the first retry; doubled after each failed attempt")
    webhook_backoff_max: float = Field(300.0, gt=0, description="longest wait between two attempts")

    # Idempotency-Key (jobs/idempotency.py)
    idempotency_ttl: int = Field(86400, ge=1, description="seconds an Idempotency-Key is remembered")

    @model_validator(mode="after")
    def _record_outlives_data(self) -> "Settings":
        self.record_ttl = max(self.record_ttl, self.result_ttl, self.failure_ttl)
        return self

    def preload_models(self) -> list[str]:
        if self.preload.strip().lower() == "none":
            return []
        names = [n.strip() for n in self.preload.split(",") if n.strip()]
        return names or [self.default_model]

    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def webhook_host_list(self) -> list[str]:
        return [h.strip().lower() for h in self.webhook_allowed_hosts.split(",") if h.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
