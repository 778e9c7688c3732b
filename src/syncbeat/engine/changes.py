"""What a full sync can tell about a source table that changed while it was copied.

A full sync reads the source in keyset batches, each in its own short read, and holds
no snapshot across them (a transaction open for hours would hold back the source's
vacuum and its replication). So each row arrives as it was when its batch was read;
rows inserted, or whose key moved, behind the cursor, rows deleted after they were
copied and updates to rows already copied are not seen (README, "Live sources").

The job cannot see those rows, but it can see that the table changed: it counts the
source when a run starts and again at its end, and compares both with the rows it
copied. A difference is recorded as a ``source_changed`` event. A large PostgreSQL
table's count is the planner's estimate, so there only a difference beyond
``ESTIMATE_SLACK`` of the table counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncbeat.connectors.sources import SqlSource
from syncbeat.vocabulary import defaults


@dataclass(frozen=True)
class Noticed:
    message: str
    data: dict[str, Any]


def _estimated(source: SqlSource, count: int) -> bool:
    return (
        source.dialect == "postgresql"
        and source.table_name is not None
        and (count >= defaults.ESTIMATE_ABOVE)
    )


def noticed(
    source: SqlSource, at_start: int | None, at_end: int | None, rows_done: int
) -> Noticed | None:
    """The warning to record when the counts say the source changed, or None."""
    if at_start is None or at_end is None:
        return None  # a count failed: nothing to compare
    slack = 0
    if _estimated(source, at_start) or _estimated(source, at_end):
        slack = int(defaults.ESTIMATE_SLACK * max(at_start, at_end))
    if abs(at_end - at_start) <= slack and abs(rows_done - at_end) <= slack:
        return None
    return Noticed(
        f"The source changed while it was copied: it held {at_start:,} rows when this "
        f"run started and {at_end:,} at its end, and {rows_done:,} were copied. Rows "
        "inserted, deleted or changed meanwhile may be missing, left over or stale in "
        "the destination; sync again (upsert) once the source is quiet to pick up the "
        "changes (deleted rows stay until a replace).",
        {"rows_at_start": at_start, "rows_at_end": at_end, "rows_done": rows_done},
    )
