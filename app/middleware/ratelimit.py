"""A per-key request rate limit kept in Redis, so every API process enforces the same budget.

GCRA (generic cell rate algorithm): one key per budget holds the "theoretical arrival time" of the
next request. A budget of `limit` requests per `period` lets a client spend up to `limit` requests
at once, then one every `period / limit` seconds; a refused request learns exactly how long to
wait. The check and the update are one Lua script using Redis's clock, so concurrent API
processes on machines with skewed clocks cannot both take the last slot.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from redis import Redis

from jobs.keys import Keys

# KEYS[1]: the budget's key. ARGV: emission interval (s), burst window (s).
# Returns {allowed (0/1), seconds to wait as a string}.
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
  return {0, tostring(allow_at - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000))
return {1, '0'}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until a request would be allowed; 0 when allowed

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up and at least 1, as Retry-After wants."""
        return str(max(1, math.ceil(self.retry_after)))


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._script = redis.register_script(_GCRA)
        self._keys = Keys(prefix)

    def hit(self, name: str, limit: int, period: float = 60.0) -> Decision:
        """Spend one request of `name`'s budget of `limit` per `period` seconds; 0 = unlimited."""
        if limit <= 0:
            return Decision(True, 0.0)
        allowed, wait = self._script(keys=[self._keys.rate(name)], args=[period / limit, period])
        return Decision(bool(int(allowed)), float(wait))
