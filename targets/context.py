"""What a running instance holds: its spec, one HTTP client, upstream pools, Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from fastapi import FastAPI

from targets.app import ServiceIdentity
from targets.errors import ConfigError
from targets.hop import HopClient
from targets.stack import InstanceSpec, StackSpec
from targets.store import connect_redis
from targets.topology import Program
from targets.upstream import UpstreamPool, make_client

__all__ = ["ServiceContext", "context_lifespan"]


@dataclass
class ServiceContext:
    stack: StackSpec
    instance: InstanceSpec
    client: HopClient | None = None
    redis: aioredis.Redis | None = None
    pools: dict[str, UpstreamPool] = field(default_factory=dict)
    _callees: dict[Program, str] = field(default_factory=dict, repr=False)

    @property
    def identity(self) -> ServiceIdentity:
        return ServiceIdentity(self.instance.id, self.instance.service, self.instance.role)

    def pool(self, service: str) -> UpstreamPool:
        try:
            return self.pools[service]
        except KeyError:
            raise ConfigError(f"{self.instance.id} has no pool for {service}") from None

    def callee(self, program: Program) -> UpstreamPool:
        """The pool of the callee (in `ServiceDef.calls`) that runs `program`."""
        name = self._callees.get(program)
        if name is None:  # looked up in the topology once, not on every request
            topology = self.stack.topology
            for name in topology.service(self.instance.service).calls:
                if topology.service(name).program is program:
                    break
            else:
                raise ConfigError(f"{self.instance.service} calls no {program} service in "
                                  f"the {self.stack.arch} topology")
            self._callees[program] = name
        return self.pool(name)

    @property
    def store(self) -> aioredis.Redis:
        if self.redis is None:
            raise ConfigError(f"{self.instance.id} does not talk to redis in this topology")
        return self.redis


def context_lifespan(ctx: ServiceContext):
    """A FastAPI lifespan that opens the instance's client, a pool per callee its
    service has in the topology (`ServiceDef.calls`), and Redis if it calls Redis."""
    topology = ctx.stack.topology
    callees = [topology.service(c) for c in topology.service(ctx.instance.service).calls]
    upstreams = [c.name for c in callees if c.program is not Program.REDIS]
    uses_redis = len(upstreams) < len(callees)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ctx = ctx
        ctx.client = make_client(ctx.stack.limits)
        for callee in upstreams:
            replicas = ctx.stack.upstreams(ctx.instance.service, callee)
            pool = UpstreamPool(callee, replicas, ctx.client, ctx.stack.limits)
            pool.start()
            ctx.pools[callee] = pool
        if uses_redis:
            ctx.redis = connect_redis(ctx.stack.redis_url)
        try:
            yield
        finally:
            for pool in ctx.pools.values():
                await pool.stop()
            await ctx.client.aclose()
            if ctx.redis is not None:
                await ctx.redis.aclose()

    return lifespan
