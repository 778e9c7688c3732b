"""The raw pipes: each direction's practical limit, one client piped into the other's bulk load.

Every variant's ``x pipe`` is its rows/s over the pipe of its own direction (variants.PIPES):
PostgreSQL's binary ``COPY`` for PG->PG, and for each cross-engine direction the source's
client printing the rows in the text the destination's bulk load reads. No value is
parsed by a program in between, so what is left is the two servers and their clients.
"""

from __future__ import annotations

from databases import DST_DB
from servers import Server

COLUMN_LIST = "id, name, email, amount, qty, created_at, updated_at, active, attrs, note"

# PG -> MariaDB: COPY's text format is LOAD DATA's default one (tab-separated, newline
# terminated, backslash escapes, \N for NULL). Only the values need spelling for MariaDB:
# DATETIME(6) takes no offset, so timestamps are printed as UTC without one, and a
# BOOLEAN (TINYINT) column wants 1/0, not t/f.
PG_SELECT = (
    "SELECT id, name, email, amount, qty, created_at AT TIME ZONE 'UTC', "
    "updated_at AT TIME ZONE 'UTC', active::int, attrs, note FROM items"
)
LOAD_DATA = (
    "LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE items CHARACTER SET utf8mb4 "
    "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
    f"({COLUMN_LIST})"
)


# (character, COPY's escape for it), as MariaDB string literals; the backslash goes first,
# so the escapes' own backslashes are not doubled again.
_COPY_ESCAPES = (
    ("\\\\", "\\\\\\\\"),
    ("\\t", "\\\\t"),
    ("\\n", "\\\\n"),
    ("\\r", "\\\\r"),
)


def _escaped(column: str) -> str:
    # COPY text's escapes for a text value, and \N for NULL. `mariadb --batch` escapes tab,
    # newline and backslash itself, but prints NULL as the bare word NULL (the same as the
    # string 'NULL') and a carriage return raw, which COPY rejects; so the client runs with
    # --raw and the server writes COPY's escapes. (Backslashes in these literals assume the
    # server's default sql_mode, without NO_BACKSLASH_ESCAPES.)
    replaced = column
    for char, escape in _COPY_ESCAPES:
        replaced = f"REPLACE({replaced}, '{char}', '{escape}')"
    return f"IFNULL({replaced}, '\\\\N')"


def _or_null(expression: str) -> str:
    return f"IFNULL({expression}, '\\\\N')"


# MariaDB -> PG: a select list whose --raw output is COPY text. DATETIME(6) holds UTC here
# (the generated data and syncbeat both read it so), so '+00' makes the timestamptz exact
# whatever psql's TimeZone; a BOOLEAN prints 1/0, which PostgreSQL's boolean input takes;
# DECIMAL and INT print as PostgreSQL reads them; JSON is LONGTEXT and escaped like text.
MARIADB_SELECT = (
    "SELECT "
    + ", ".join(
        [
            "id",
            _escaped("name"),
            _escaped("email"),
            _or_null("amount"),
            _or_null("qty"),
            _or_null("CONCAT(created_at, '+00')"),
            _or_null("CONCAT(updated_at, '+00')"),
            _or_null("active"),
            _escaped("attrs"),
            _escaped("note"),
        ]
    )
    + " FROM items"
)


def psql(server: Server, db: str, sql: str) -> list[str]:
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", server.libpq(db), "-c", sql]


def mariadb(server: Server, db: str, *options: str) -> list[str]:
    # --no-defaults first, like psql's -X: no option file of this machine's user applies.
    # The password, if any, goes through MYSQL_PWD (pipe_env), not the process list.
    return [
        "mariadb",
        "--no-defaults",
        f"--host={server.host}",
        f"--port={server.port}",
        f"--user={server.user}",
        *options,
        db,
    ]


def pipe_env(server: Server) -> dict[str, str]:
    return {"MYSQL_PWD": server.password} if server.password is not None else {}


def pipe_commands(src: Server, dst: Server, src_db: str) -> list[list[str]]:
    """The two processes of the raw pipe from ``src`` to ``dst`` (database DST_DB, whose
    empty ``items`` table the runner has made)."""
    if src.kind == "pg" and dst.kind == "pg":
        return [
            psql(src, src_db, "COPY items TO STDOUT (FORMAT binary)"),
            psql(dst, DST_DB, "COPY items FROM STDIN (FORMAT binary)"),
        ]
    if src.kind == "pg":
        return [
            psql(src, src_db, f"COPY ({PG_SELECT}) TO STDOUT"),
            mariadb(dst, DST_DB, "--local-infile=1", "-e", LOAD_DATA),
        ]
    return [
        mariadb(
            src, src_db, "--batch", "--raw", "--skip-column-names", "--quick", "-e", MARIADB_SELECT
        ),
        psql(dst, DST_DB, f"COPY items ({COLUMN_LIST}) FROM STDIN"),
    ]
