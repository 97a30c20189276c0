"""A per-key request rate limit kept in Redis, so every API process enforces the same budget.

GCRA (generic cell rate algorithm): one key per budget holds the "theoretical arrival time" of the
next request. A budget of `limit` requests per `period` lets a client spend up to `limit` requests
at once, then one every `period / limit` seconds; a refused request learns exactly how long to
wait. The check and the update are one Lua script using Redis's clock, so concurrent API
processes on machines with skewed clocks cannot both take the last slot.

Every answer tells the client its budget, as the IETF httpapi draft "RateLimit header fields for
HTTP" says (`Decision.headers`): `RateLimit-Policy: "submit";q=30;w=60` (the policy: q requests
per w seconds) and `RateLimit: "submit";r=12;t=2` (r requests left now, the next one freed in t s).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from redis import Redis

from jobs.keys import Keys

# KEYS[1]: the budget's key. ARGV: emission interval (s), burst window (s).
# Returns {allowed (0/1), seconds to wait, seconds of budget in use after this request} as strings.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - window
if now < allow_at then
  return {0, tostring(allow_at - now), tostring(tat - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000))
return {1, '0', tostring(new_tat - now)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until a request would be allowed; 0 when allowed
    policy: str = ""  # the budget's name in the RateLimit fields
    limit: int = 0  # requests per window; 0: unlimited
    window: float = 60.0
    used: float = 0.0  # seconds of the window the budget has in use (GCRA's debt)

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up and at least 1, as Retry-After wants."""
        return str(max(1, math.ceil(self.retry_after)))

    @property
    def remaining(self) -> int:
        interval = self.window / self.limit
        return max(0, min(self.limit, math.floor((self.window - self.used) / interval + 1e-9)))

    def headers(self) -> dict[str, str]:
        """RateLimit-Policy and RateLimit (IETF draft); none for an unlimited budget."""
        if self.limit <= 0:
            return {}
        interval = self.window / self.limit
        if not self.allowed:
            reset = self.retry_after
        elif self.remaining >= self.limit:
            reset = 0.0
        else:  # when the debt has shrunk enough for one more request
            reset = self.used + (self.remaining + 1) * interval - self.window
        return {"RateLimit-Policy": f'"{self.policy}";q={self.limit};w={math.ceil(self.window)}',
                "RateLimit": f'"{self.policy}";r={self.remaining if self.allowed else 0};t={max(0, math.ceil(reset))}'}


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._script = redis.register_script(_GCRA)
        self._keys = Keys(prefix)

    def hit(self, name: str, limit: int, period: float = 60.0, policy: str = "") -> Decision:
        """Spend one request of `name`'s budget of `limit` per `period` seconds; 0 = unlimited."""
        if limit <= 0:
            return Decision(True, 0.0)
        allowed, wait, used = self._script(keys=[self._keys.rate(name)], args=[period / limit, period])
        return Decision(bool(int(allowed)), float(wait), policy, limit, period, float(used))
