"""Several entry points, and the client's failover between them (C9).

A stack may have more than one entry point (two routers, each its own way in).
The load generator then does what a real client library with a list of
endpoints does: each user has a home entry (users are spread over the entries),
and a request that fails at the connection level there, before any response
(refused, reset, closed, a connect timeout), is sent once more to the next
entry. An entry that failed so is avoided for a short cool-down, so the
following requests go straight to a live one; afterwards it is tried again.

The failover is the client's, and the row says so: it names the entry that
gave the final answer and whether a failover happened, and its latency runs
from the first try's send (the failed try included). At most one failover per
request: a request whose second entry fails too is a failed row.

No Locust or gevent here: the users (`loadtests.users`) wire it into their HTTP
session; the policy is unit-tested on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict

from loadtests.metrics import classify_error, error_chain

__all__ = [
    "COOLDOWN_S",
    "ENTRY_ATTR",
    "FAILOVER_ATTR",
    "EntryPool",
    "EntryTarget",
    "fails_over",
]

# Long enough that a dead entry costs a handful of failovers, not one per request;
# short enough that an entry back from a restart gets its users again soon.
COOLDOWN_S = 2.0
# What the session writes on each response for the recorder (loadtests.recorder):
# the entry that answered (or failed last), and whether the request failed over.
ENTRY_ATTR = "gatecrash_entry"
FAILOVER_ATTR = "gatecrash_failover"
# Failures before any response that another entry may not share.
_FAILOVER_KINDS = frozenset({"connect", "reset"})


class EntryTarget(BaseModel):
    """One entry point as the load generator knows it: the instance's name and its URL."""

    model_config = ConfigDict(frozen=True)

    name: str
    url: str


def fails_over(exc: BaseException | None) -> bool:
    """Whether a request that ended with `exc` and no response may go to another entry.

    Refused, reset or closed before an answer, or a socket timeout (connecting):
    the entry is at fault, not the request. Not the request's own deadline
    (gevent's `Timeout`): its time is up, wherever it would be sent.
    """
    if exc is None:
        return False
    if classify_error(0, exc) in _FAILOVER_KINDS:
        return True
    chain = error_chain(exc)
    return (any(isinstance(e, TimeoutError) for e in chain)
            and not any(type(e).__name__ == "Timeout" for e in chain))


class EntryPool:
    """The entry points of one load process, with the ones cooling down after a failure.

    Shared by the process's users: one user's failed connection spares the others
    the same failure.
    """

    def __init__(self, entries: Sequence[EntryTarget], *, cooldown_s: float = COOLDOWN_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not entries:
            raise ValueError("an entry pool needs at least one entry")
        self.entries = tuple(entries)
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._cool_until: dict[str, float] = {}

    def _cooling(self, entry: EntryTarget, now: float) -> bool:
        return self._cool_until.get(entry.name, 0.0) > now

    def plan(self, home: int) -> tuple[EntryTarget, EntryTarget | None]:
        """Where a request of a user with home entry `home` goes first, and where it
        fails over to (None: a single entry).

        From the home entry on, in order: the first entry not cooling down, then
        the next one after it, preferring one not cooling down either. When every
        entry cools down the home entry is tried anyway (never refuse untried).
        """
        n = len(self.entries)
        ring = [self.entries[(home + k) % n] for k in range(n)]
        if n == 1:
            return ring[0], None
        now = self._clock()
        live = [e for e in ring if not self._cooling(e, now)]
        first = live[0] if live else ring[0]
        at = ring.index(first)
        rest = ring[at + 1:] + ring[:at]
        second = next((e for e in rest if not self._cooling(e, now)), rest[0])
        return first, second

    def failed(self, entry: EntryTarget) -> None:
        """`entry` failed before answering: avoid it for the cool-down."""
        self._cool_until[entry.name] = self._clock() + self.cooldown_s
