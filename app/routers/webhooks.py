"""The caller's webhook signing secret (jobs.webhook_secrets): each API key name has its own, so
no tenant can forge another's deliveries. Only the key name itself can read or rotate it."""
from __future__ import annotations

from fastapi import APIRouter
from redis import Redis

from app.deps import OwnerDep, RedisDep, SettingsDep
from app.schemas import WebhookSecret, errors
from jobs.errors import WebhooksOff
from jobs.settings import Settings
from jobs.webhook_secrets import WebhookSecrets

router = APIRouter(tags=["webhooks"])


def _secrets(redis: Redis, settings: Settings) -> WebhookSecrets:
    if not settings.webhook_secret:
        raise WebhooksOff("webhooks are off: this service has no SALIENCY_WEBHOOK_SECRET")
    return WebhookSecrets(redis, settings)


@router.get("/webhooks/secret", response_model=WebhookSecret, responses=errors(404))
def webhook_secret(owner: OwnerDep, redis: RedisDep, settings: SettingsDep) -> WebhookSecret:
    """The secret that signs the webhooks of this API key's jobs; verify deliveries with it and a
    Standard Webhooks library (README, "Webhooks")."""
    return WebhookSecret(key=_secrets(redis, settings).current(owner))


@router.post("/webhooks/secret/rotate", response_model=WebhookSecret, responses=errors(404))
def rotate_webhook_secret(owner: OwnerDep, redis: RedisDep, settings: SettingsDep) -> WebhookSecret:
    """A new secret; deliveries also carry a signature with the previous one for
    `SALIENCY_WEBHOOK_SECRET_GRACE` seconds, so receivers can switch without missing any."""
    return WebhookSecret(key=_secrets(redis, settings).rotate(owner))
