"""The ``/api/v2/`` token bucket: 20 requests at once, 3 more each second, per store.

The bucket must be the same for every web process and machine, so it lives
where they all look: a row of :class:`inventory.models.RateBucket`, locked for
the read-refill-take-write (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
IMMEDIATE transactions serialise writers anyway), or, when ``REDIS_URL`` is
set, a Redis hash changed by one Lua script (atomic on the server).

Time comes from an injectable clock so tests can refill a bucket without
sleeping.  With Redis and no clock given, the Redis server's own clock is
used, so machines whose clocks disagree still share one notion of "now".
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from inventory.models import RateBucket

CAPACITY = 20
REFILL_PER_SECOND = 3
REDIS_PREFIX = "hub:api-v2:bucket:"
logger = logging.getLogger(__name__)
# A bucket refills completely in CAPACITY / REFILL_PER_SECOND seconds; after that
# a missing key means the same as a full bucket, so Redis may forget it.
REDIS_TTL_SECONDS = 60


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: int  # whole seconds until one token is there (0 when allowed)


def _decide(tokens: float, allowed: bool, rate: float) -> Decision:
    if allowed:
        return Decision(True, max(0, math.floor(tokens)), 0)
    wait = (1 - tokens) / rate
    return Decision(False, 0, max(1, math.ceil(wait - 1e-9)))


def _refill(tokens: float, last: float, now: float, capacity: float, rate: float) -> float:
    # A clock that steps back must not mint or remove tokens.
    return min(capacity, tokens + max(0.0, now - last) * rate)


class DatabaseBucket:
    """Token buckets as rows of RateBucket, one row per key, locked while changed."""

    def __init__(self, capacity: float = CAPACITY, rate: float = REFILL_PER_SECOND,
                 clock: Callable[[], float] = time.time):
        self.capacity, self.rate, self.clock = capacity, rate, clock

    def take(self, key: str, cost: float = 1) -> Decision:
        with transaction.atomic():
            # Create the row if this is the key's first request; a concurrent
            # creator wins the race harmlessly (ignore_conflicts), then both lock it.
            RateBucket.objects.bulk_create(
                [RateBucket(key=key, tokens=self.capacity, updated_at=self.clock())], ignore_conflicts=True
            )
            bucket = RateBucket.objects.select_for_update().get(key=key)
            now = self.clock()
            tokens = _refill(bucket.tokens, bucket.updated_at, now, self.capacity, self.rate)
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            RateBucket.objects.filter(pk=bucket.pk).update(
                tokens=tokens, updated_at=max(now, bucket.updated_at)
            )
        return _decide(tokens, allowed, self.rate)


# KEYS[1] bucket; ARGV: capacity, rate, cost, now ("" = use the server's clock), ttl.
# Returns {allowed (0/1), tokens as text} (Lua numbers would be truncated to integers).
REDIS_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[4])
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(capacity, tokens + elapsed * rate)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
if now > ts then ts = now end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return {allowed, tostring(tokens)}
"""


class RedisBucket:
    """Token buckets as Redis hashes, each changed atomically by one script call."""

    def __init__(self, client, capacity: float = CAPACITY, rate: float = REFILL_PER_SECOND,
                 clock: Callable[[], float] | None = None, prefix: str = REDIS_PREFIX):
        self.client, self.capacity, self.rate, self.clock, self.prefix = client, capacity, rate, clock, prefix
        self.script = client.register_script(REDIS_SCRIPT)
        self.fallback = DatabaseBucket(capacity, rate, clock or time.time)

    def take(self, key: str, cost: float = 1) -> Decision:
        import redis

        now = "" if self.clock is None else repr(float(self.clock()))
        try:
            allowed, tokens = self.script(
                keys=[self.prefix + key],
                args=[self.capacity, self.rate, cost, now, REDIS_TTL_SECONDS],
            )
        except redis.RedisError as exc:
            # Redis away must not take the API down, nor switch limiting off:
            # the database bucket is shared by all processes too.
            logger.warning("rate limit falls back to the database: Redis failed (%s)", exc)
            return self.fallback.take(key, cost)
        return _decide(float(tokens), bool(int(allowed)), self.rate)


_limiter = None


def get_limiter():
    """The configured bucket store: Redis when ``REDIS_URL`` is set, else the database."""
    global _limiter
    if _limiter is None:
        if settings.REDIS_URL:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # Fail fast (then use the database bucket) rather than hold a request
            # through redis-py's default retries with backoff.
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5,
                                          retry=Retry(NoBackoff(), 1))
            _limiter = RedisBucket(client, prefix=REDIS_PREFIX)
        else:
            _limiter = DatabaseBucket()
    return _limiter


def set_limiter(limiter) -> None:
    """Replace the bucket store (tests inject one with a fake clock; None re-reads settings)."""
    global _limiter
    _limiter = limiter
