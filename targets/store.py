"""Redis access for the services: a real Redis server, never a fake."""

from __future__ import annotations

import redis.asyncio as aioredis

__all__ = ["REDIS_ERRORS", "connect_redis"]

# Short timeouts: a stalled Redis must turn into a fast error the caller can
# degrade on, not a hung request.
REDIS_TIMEOUT_S = 0.5

REDIS_ERRORS = (aioredis.RedisError, OSError)


def connect_redis(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        health_check_interval=0,
    )
