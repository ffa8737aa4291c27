"""A FAKE clock for test processes only: with $GATECRASH_TEST_CLOCK_SKEW_S set,
`time.time()` runs that many seconds off, as a worker host's clock might.

A test puts this folder first on a worker's PYTHONPATH; Python imports
`sitecustomize` at start-up, before Locust reads any time. Monotonic clocks
(gevent's timers) are left alone, as a real skew would leave them.
"""

import os
import time

_SKEW_S = float(os.environ.get("GATECRASH_TEST_CLOCK_SKEW_S") or 0.0)

if _SKEW_S:
    _real_time = time.time

    def _skewed_time() -> float:
        return _real_time() + _SKEW_S

    time.time = _skewed_time
