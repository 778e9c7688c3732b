"""The backoff of a batch or a step that failed transiently.

tenacity does the waiting; what is transient is :func:`syncbeat.connectors.failures.
is_transient`'s to say. A retry is never silent: ``on_retry`` records it as an event.
"""

from __future__ import annotations

from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from syncbeat.connectors.failures import is_transient
from syncbeat.vocabulary import defaults


def retrying(
    max_retries: int,
    on_retry: Callable[[int, BaseException, float], None],
    *,
    initial: float = defaults.RETRY_INITIAL_SECONDS,
    maximum: float = defaults.RETRY_MAX_SECONDS,
) -> Retrying:
    """A tenacity policy: exponential backoff with jitter, only on transient errors."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if exc is not None:
            on_retry(state.attempt_number, exc, wait)

    return Retrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=wait_exponential_jitter(multiplier=initial, max=maximum),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
