"""Locust entry point; the launcher runs `python -m locust -f <this file> <UserClass>`.

Only the Locust process imports this (it pulls in locust and gevent, whose
monkey-patching must never reach the conductor's asyncio code).
"""

from typing import Any

from locust import events
from locust.env import Environment

from loadtests import agent
from loadtests.users import ClosedLoopUser, OpenLoopUser

__all__ = ["ClosedLoopUser", "OpenLoopUser"]


@events.init.add_listener
def _install(environment: Environment, **_: Any) -> None:
    agent.install(environment)
