"""Schema drift: the source's columns changing under a job.

A job's batches must all be read with the same columns, or the destination ends up
holding rows of two shapes: a dropped column NULL in later rows only, a column whose
type changed half converted. So the columns a job starts with are recorded (in its
``plan`` event) and compared

* when a run starts on a job that has committed batches (a resume, a retry), and
* at every batch boundary, for a table source (one catalogue query per batch),

and any difference (a column added, dropped, or of another type, or the table gone)
fails the job at that boundary, with its checkpoint on the last batch read with the
old columns and a message that says what changed. syncbeat does not adapt the
destination on its own: whether a new column should be copied, or a dropped one
emptied, is the user's call (``--mode replace`` rebuilds the table from the new
columns).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from syncbeat.connectors.failures import classify
from syncbeat.connectors.sources import SqlSource
from syncbeat.store import events
from syncbeat.store.schema import job_events
from syncbeat.vocabulary.errors import SchemaDrift

Columns = list[list[str]]
"""[[name, type as the source database spells it], ...], in the source's order; a list
of lists, so that it reads back from a JSON event unchanged."""


def _type_text(col_type: Any, dialect: sa.Dialect) -> str:
    try:
        return str(col_type.compile(dialect=dialect))
    except (sa.exc.CompileError, NotImplementedError, AttributeError):
        return repr(col_type)


def current(source: SqlSource) -> Columns:
    """The source's columns now. A table is asked (one catalogue query); a query's
    columns are those its probe found when the run opened it."""
    dialect = source.engine.dialect
    if source.table_name is None:
        return [[c.name, _type_text(c.type, dialect)] for c in source.columns]
    schema, _, name = source.table_name.rpartition(".")
    with source.engine.connect() as conn:
        found = sa.inspect(conn).get_columns(name, schema=schema or None)
    return [[c["name"], _type_text(c["type"], dialect)] for c in found]


def recorded(conn: sa.Connection, job_id: int) -> Columns | None:
    """The columns the job started with, from its first run's plan event (None for a
    job whose runs predate the record)."""
    rows = conn.execute(
        sa.select(job_events.c.data)
        .where(job_events.c.job_id == job_id, job_events.c.kind == events.PLAN)
        .order_by(job_events.c.id)
    ).scalars()
    for data in rows:
        if isinstance(data, dict) and "columns" in data:
            return [list(pair) for pair in data["columns"]]
    return None


def changes(before: Columns, after: Columns) -> list[str]:
    """What changed, in words: 'column v was dropped', 'column n changed from ...'."""
    old, new = dict((n, t) for n, t in before), dict((n, t) for n, t in after)
    said = [f"column {n} was dropped" for n in old if n not in new]
    said += [f"column {n} was added" for n in new if n not in old]
    said += [
        f"column {n} changed from {old[n]} to {new[n]}"
        for n in old
        if n in new and old[n] != new[n]
    ]
    return said


def _drifted(what: str, when: str, said: list[str], job_id: int) -> SchemaDrift:
    return SchemaDrift(
        f"The columns of the source {what} changed {when}: {'; '.join(said)}. The "
        "batches already copied were read with the old columns.",
        hint=f"Undo the change and run the job again (it resumes at its checkpoint), or "
        f"cancel it (syncbeat job cancel {job_id}) and sync again with --mode replace "
        "to copy every row with the new columns.",
    )


class Watch:
    """The source's columns as a run found them, checked again at batch boundaries."""

    def __init__(self, source: SqlSource, job_id: int, started_with: Columns | None) -> None:
        """``started_with``: the columns recorded when the job started, for a job that
        has committed batches; a difference fails the run before it writes."""
        self.source, self.job_id = source, job_id
        self._just_read = True  # the first boundary comes right after: no need to look
        try:
            self.columns = current(source)
        except sa.exc.DBAPIError as exc:
            raise classify(exc, "reading the source's columns", at_start=True) from None
        if started_with is not None:
            said = changes(started_with, self.columns)
            if said:
                raise _drifted(source.label, f"since job {job_id} started", said, job_id)

    def check(self) -> None:
        """At a batch boundary: fail if the source table changed since the run began."""
        if self.source.table_name is None or self._just_read:
            self._just_read = False
            return
        try:
            now = current(self.source)
        except sa.exc.NoSuchTableError:
            raise SchemaDrift(
                f"The source table {self.source.table_name!r} was dropped or renamed "
                "during the sync.",
                hint="Restore it and run the job again (it resumes at its checkpoint), or "
                f"cancel the job: syncbeat job cancel {self.job_id}",
            ) from None
        except sa.exc.DBAPIError:
            return  # the batch's own read meets the same problem, and retries or fails
        said = changes(self.columns, now)
        if said:
            raise _drifted(self.source.label, "during the sync", said, self.job_id)
