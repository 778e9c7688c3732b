"""How often a client address may get the dashboard's sign-in wrong.

The sign-in form checks the API token itself, so without a limit it is an oracle to guess
the token at network speed. Each address may fail a few times per window; after that it
is told when to come back (429 with ``Retry-After``) and its attempts are not checked.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.defaults import SIGN_IN_FAILURES, SIGN_IN_WINDOW


class SignInThrottle:
    """Failed sign-ins per client address over a sliding window."""

    def __init__(
        self,
        failures: int = SIGN_IN_FAILURES,
        window: float = SIGN_IN_WINDOW,
        max_clients: int = defaults.MAX_TRACKED_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._failed: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()  # sync routes run in a thread pool

    def retry_after(self, client: str) -> int | None:
        """Whole seconds ``client`` must wait before its next attempt, or None if it may
        try now."""
        with self._lock:
            times = self._recent(client)
            if times is None or len(times) < self.failures:
                return None
            return max(1, math.ceil(times[0] + self.window - self._clock()))

    def failed(self, client: str) -> None:
        """Count a failed attempt by ``client``."""
        with self._lock:
            times = self._recent(client)
            if times is None:
                times = self._failed[client] = deque(maxlen=self.failures)
                while len(self._failed) > self.max_clients:
                    self._failed.popitem(last=False)
            times.append(self._clock())
            self._failed.move_to_end(client)

    def succeeded(self, client: str) -> None:
        """Forget ``client``'s failures: it holds the token."""
        with self._lock:
            self._failed.pop(client, None)

    def _recent(self, client: str) -> deque[float] | None:
        times = self._failed.get(client)
        if times is None:
            return None
        cutoff = self._clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failed[client]
            return None
        return times
