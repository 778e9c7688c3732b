"""What a person can do about a database error that a retry cannot fix.

A driver's message names the problem ("Data too long for column 'name' at row 2"); the
hint says what to do about it. Errors are recognised by their code where the database
gives one (PostgreSQL's SQLSTATE, MySQL/MariaDB's error number) and by their words
where it does not (SQLite, and errors the driver raises itself, such as psycopg's
refusal of a NUL character).
"""

from __future__ import annotations

from dataclasses import dataclass

_RESUME = "The job keeps its checkpoint: once that is fixed, run the same command again."
# MySQL/MariaDB: a value cut or refused for its column ("Data truncated", "Incorrect ...
# value"), a CHECK constraint, a foreign key. (1265, "Data truncated", has its own rule.)
_MYSQL_DATA = {1292, 1366, 1367, 3819, 4025, 1451, 1452}


@dataclass(frozen=True)
class _Rule:
    hint: str
    sqlstates: tuple[str, ...] = ()
    errnos: tuple[int, ...] = ()
    words: tuple[str, ...] = ()

    def matches(self, sqlstate: str | None, errno: int | None, text: str) -> bool:
        return (
            (sqlstate is not None and sqlstate in self.sqlstates)
            or (errno is not None and errno in self.errnos)
            or any(word in text for word in self.words)
        )


_RULES = (
    _Rule(
        "A value is longer (or more precise) than the destination column allows. Widen "
        "the column "
        "(ALTER TABLE), shorten the value in a --query, or let syncbeat create the table "
        "from the source's types (a new --to-table, or --mode replace). " + _RESUME,
        sqlstates=("22001",),
        errnos=(1406, 1265),  # 1265: LOAD DATA's "Data truncated", a value cut to fit
        words=("value too long", "data too long", "data truncated"),
    ),
    _Rule(
        "A number does not fit the destination column's type. Widen the column (BIGINT, "
        "NUMERIC), or let syncbeat create the table from the source's types (a new "
        "--to-table, or --mode replace). " + _RESUME,
        sqlstates=("22003",),
        errnos=(1264, 1690),
        words=("out of range",),
    ),
    _Rule(
        "The destination column's character set cannot hold this text: characters "
        "outside the Basic Multilingual Plane, such as emoji, need utf8mb4 (ALTER TABLE "
        "... CONVERT TO CHARACTER SET utf8mb4). " + _RESUME,
        words=("incorrect string value",),  # MySQL's 1366 also means other misfits
    ),
    _Rule(
        "PostgreSQL text cannot hold the NUL character (0x00). Remove it with a --query "
        "(SELECT replace(col, char(0), '') AS col, ...), or make the column bytea. " + _RESUME,
        words=("cannot contain nul",),
    ),
    _Rule(
        "The source holds a date or time that Python cannot represent (PostgreSQL's "
        "infinity, a year before 1 or after 9999, or 24:00). Read the table through a "
        "--query that maps it to a value or NULL (SELECT id, CASE WHEN col = 'infinity' "
        "THEN NULL ELSE col END AS col, ...), or pass it as text (col::text AS col). "
        "Between PostgreSQL databases with the same column types, syncbeat's COPY path "
        "copies such values as they are.",
        words=("(after year 10k)", "(before year 1)", "not supported by python"),
    ),
    _Rule(
        "The source holds text that is not valid UTF-8. Repair those rows, or read the "
        "column as bytes with a --query (SELECT CAST(col AS BLOB) AS col, ...).",
        words=("could not decode to utf-8",),
    ),
    _Rule(
        "A row is larger than the server accepts in one packet: raise max_allowed_packet "
        "on the MySQL/MariaDB server. " + _RESUME,
        errnos=(1153, 1301),
        words=("max_allowed_packet",),
    ),
    _Rule(
        "The user in the URL lacks a right this needs: a source needs SELECT; a "
        "destination needs CREATE on its schema and INSERT, UPDATE, DELETE on its "
        "tables. Grant them, or use another user. " + _RESUME,
        sqlstates=("42501",),
        errnos=(1142, 1143, 1227),
        words=("permission denied", "readonly database", "read-only"),
    ),
    _Rule(
        "A column name appears more than once: give each column its own name with AS.",
        sqlstates=("42701",),
        errnos=(1060,),
        words=("specified more than once", "duplicate column name"),
    ),
    _Rule(
        "Check the SQL given with --query: it must be one SELECT that runs as written "
        "in the source database (try it there first).",
        sqlstates=("42601", "42883", "42804"),
        errnos=(1064, 1305),
        words=("syntax error",),
    ),
    _Rule(
        "The destination database lacks a collation that a source column uses (one made "
        "with CREATE COLLATION, or one this server version does not know): create it in "
        "the destination with the source's definition (in PostgreSQL the source's "
        "pg_collation catalog shows it), or give the column "
        'another collation in a --query (col COLLATE "C" AS col). ' + _RESUME,
        errnos=(1273,),  # MySQL/MariaDB: Unknown collation
        words=('" for encoding "',),  # PostgreSQL: collation "x" for encoding "UTF8" ...
    ),
    _Rule(
        "A table the job uses is missing: check its name, or whether it was dropped or "
        "renamed while the job ran. " + _RESUME,
        sqlstates=("42P01",),
        errnos=(1146,),
        words=("no such table",),
    ),
    _Rule(
        "A column the job uses is missing: check its name, or whether the table changed "
        "while the job ran. " + _RESUME,
        sqlstates=("42703",),
        errnos=(1054,),
        words=("no such column",),
    ),
    _Rule(
        "The destination column does not accept NULL, and the source has NULLs: allow "
        "NULL there, or fill the value in a --query (COALESCE). " + _RESUME,
        sqlstates=("23502",),
        errnos=(1048,),
        words=("not null constraint",),
    ),
    _Rule(
        "A row's key is in the destination table already: use --mode upsert to update "
        "existing rows, or empty the table first. " + _RESUME,
        sqlstates=("23505",),
        errnos=(1062,),
        words=("unique constraint failed", "duplicate entry"),
    ),
)


_MISFIT = (
    "A value does not fit the destination column (its type, length or a constraint). "
    "Change the column, or convert the value in a --query. " + _RESUME
)


def for_driver_error(sqlstate: str | None, errno: int | None, message: str) -> str:
    """The hint for a non-retryable driver error; a general one when none fits."""
    text = message.lower()
    for rule in _RULES:
        if rule.matches(sqlstate, errno, text):
            return rule.hint
    if (sqlstate is not None and sqlstate.startswith(("22", "23"))) or errno in _MYSQL_DATA:
        return _MISFIT
    return _RESUME
