"""Each API key name's own webhook signing secret, and the Standard Webhooks signature.

One secret for every tenant would let any tenant who verifies deliveries forge them for all the
others. So each key name gets its own secret, derived from the master secret
(SALIENCY_WEBHOOK_SECRET) and the name, HMAC-SHA256(master, "webhook-secret", name, generation):
nothing per key is configured, and nothing is stored until a key rotates its secret:

    whsecret:{owner}   hash {generation, rotated_at}, kept forever (a few bytes per key name)

A key reads its secret at GET /webhooks/secret and rotates it at POST /webhooks/secret/rotate.
For `webhook_secret_grace` seconds after a rotation, deliveries carry a signature with the
previous secret too (Standard Webhooks allows several, space-separated), so receivers can switch
without losing a delivery.

Format (https://www.standardwebhooks.com): the secret is "whsec_" + base64 of 32 key bytes; the
`webhook-signature` header is "v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

from redis import Redis

from jobs.keys import Keys
from jobs.settings import Settings

PREFIX = "whsec_"


def derive(master: str, owner: str, generation: int) -> str:
    """The secret of key name `owner` at `generation` (0 until its first rotation)."""
    material = b"\0".join((b"webhook-secret", owner.encode(), str(generation).encode()))
    key = hmac.new(master.encode(), material, hashlib.sha256).digest()
    return PREFIX + base64.b64encode(key).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `webhook-signature` entry, "v1,<base64>", for `body` sent as message `msg_id`."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class WebhookSecrets:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.key_prefix)

    def _state(self, owner: str) -> tuple[int, float]:
        raw = self.redis.hmget(self.keys.webhook_secret(owner), ["generation", "rotated_at"])
        return int(raw[0] or 0), float(raw[1] or 0.0)

    def current(self, owner: str) -> str:
        return derive(self.settings.webhook_secret, owner, self._state(owner)[0])

    def signing(self, owner: str, now: float | None = None) -> list[str]:
        """The secrets a delivery for `owner` is signed with: the current one, and the previous
        one while the rotation's grace period lasts."""
        generation, rotated_at = self._state(owner)
        secrets = [derive(self.settings.webhook_secret, owner, generation)]
        now = time.time() if now is None else now
        if generation > 0 and now - rotated_at < self.settings.webhook_secret_grace:
            secrets.append(derive(self.settings.webhook_secret, owner, generation - 1))
        return secrets

    def rotate(self, owner: str) -> str:
        """A new secret for `owner`; the previous one keeps signing for the grace period."""
        key = self.keys.webhook_secret(owner)
        with self.redis.pipeline() as pipe:
            pipe.hincrby(key, "generation", 1)
            pipe.hset(key, "rotated_at", repr(time.time()))
            generation, _ = pipe.execute()
        return derive(self.settings.webhook_secret, owner, int(generation))
