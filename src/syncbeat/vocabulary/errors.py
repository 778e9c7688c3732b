"""The exceptions syncbeat raises.

One root, :class:`SyncbeatError`, whose default message is the subclass docstring.
Every error says whether retrying it can help (``retryable``) and, where a person has
something to do, a ``hint`` that says what.
"""

from __future__ import annotations


class SyncbeatError(Exception):
    """Something went wrong in syncbeat."""

    retryable: bool = False

    def __init__(self, message: str | None = None, *, hint: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.hint = hint
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(SyncbeatError):
    """The sync is not configured correctly."""


class ConnectionUrlError(ConfigError):
    """A connection URL cannot be used."""


class NotFoundError(SyncbeatError):
    """No such object."""


class PipelineNotFound(NotFoundError):
    """No such pipeline."""


class JobNotFound(NotFoundError):
    """No such job."""


class PipelineExists(SyncbeatError):
    """A pipeline with that name exists already."""


class InvalidTransition(SyncbeatError):
    """The job cannot do that in its current state."""


class SourceError(SyncbeatError):
    """Reading the source failed."""


class KeyColumnError(SourceError):
    """The key columns cannot page this source safely."""


class SchemaDrift(SourceError):
    """The source's columns changed since the job started."""


class DestinationError(SyncbeatError):
    """Writing the destination failed."""


class StoreError(SyncbeatError):
    """The job store cannot be used."""


class TransientError(SyncbeatError):
    """A temporary failure (connection lost, timeout, deadlock); retrying may help."""

    retryable = True


class JobBusy(SyncbeatError):
    """The job is running in another live process."""


class UntrustedServerError(SyncbeatError):
    """A database server asked for something syncbeat never gives a server (a local
    file). Retrying cannot help: the server, not the network, is at fault."""


class NotAllowedError(ConfigError):
    """A pipeline saved through the API refers to a secret or a file the operator did
    not allow it to reach."""


# -- control flow: how a run stops early. The runner turns each into its end ------------


class LeaseLost(SyncbeatError):
    """This worker no longer owns the job: another worker took it over, so this one stops
    before it writes anything more."""


class Stuck(LeaseLost):
    """The batch made no progress for the batch timeout; the job was given back."""


class Interrupted(SyncbeatError):
    """The run stopped at a batch boundary because it was asked to (SIGTERM, Ctrl-C)."""


class Requested(SyncbeatError):
    """A person asked to pause or cancel the job; the run stops at a batch boundary."""

    def __init__(self, status: str) -> None:
        super().__init__(f"{status} on request")
        self.status = status
