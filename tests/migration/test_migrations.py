"""The job store's migrations: they build exactly the schema the code declares, on SQLite
and PostgreSQL, from an empty database and from every older revision, keeping the data;
a store that is newer than the code, or not a database at all, is refused with a message
and never touched."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from syncbeat import PipelineSpec, StoreError, Syncbeat
from syncbeat.store import Store, metadata
from syncbeat.store.store import _alembic_config
from tests.support.cli import run_cli

PG = pytest.mark.postgres


def _revisions() -> list[str]:
    """Every revision, oldest first; the last is the head."""
    script = ScriptDirectory.from_config(_alembic_config())
    assert len(script.get_heads()) == 1, "the migrations must have one head"
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


HEAD = _revisions()[-1]


def _same_default(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Alembic's SQLite comparison reports ``('')`` and ``''`` as different (its regex
    wants a non-empty string); strip parentheses and quotes, and let alembic decide
    whatever that does not settle."""

    def bare(text: str | None) -> str | None:
        if text is None:
            return None
        text = text.strip()
        while text.startswith("(") and text.endswith(")"):
            text = text[1:-1].strip()
        match = re.fullmatch(r"'(.*)'", text, flags=re.DOTALL)
        return match.group(1) if match else text

    if bare(inspected_default) == bare(rendered_metadata_default):
        return False
    return None


def _differences(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": _same_default}
        )
        return list(compare_metadata(context, metadata))


def _structure(engine: sa.Engine) -> dict[str, Any]:
    """Every table, column, key, constraint and index, with their names and options
    (partial indexes' WHERE, ON DELETE), as the database reports them."""
    inspector = sa.inspect(engine)
    found: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        found[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table),
            "fks": sorted(
                (
                    fk["name"],
                    fk["constrained_columns"],
                    fk["referred_table"],
                    fk["referred_columns"],
                    sorted(fk["options"].items()),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (
                    ix["name"],
                    ix["column_names"],
                    bool(ix["unique"]),
                    sorted(
                        (k, " ".join(str(v).split()))
                        for k, v in ix.get("dialect_options", {}).items()
                    ),
                )
                for ix in inspector.get_indexes(table)
            ),
            "uniques": sorted(
                (u["name"], u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
        }
    return found


def _declared(url: str) -> dict[str, Any]:
    """The structure of a database built straight from the declared tables."""
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        return _structure(engine)
    finally:
        engine.dispose()


def _version(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _upgrade_to(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)


def _assert_current(store: Store, declared: dict[str, Any]) -> None:
    assert _version(store.engine) == HEAD
    assert _differences(store.engine) == []
    assert _structure(store.engine) == declared


# -- from an empty database ---------------------------------------------------------------


def test_migrations_build_the_declared_schema_on_sqlite(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        assert store.migrated == (None, HEAD)
        _assert_current(store, _declared(f"sqlite:///{tmp_path / 'declared.db'}"))
    finally:
        store.dispose()


@PG
def test_migrations_build_the_declared_schema_on_postgresql(pg_url: str, pg_url2: str) -> None:
    store = Store(pg_url)
    try:
        assert store.migrated == (None, HEAD)
        _assert_current(store, _declared(pg_url2))
    finally:
        store.dispose()


# -- from every older revision, keeping the data ------------------------------------------


def _old_store_with_data(url: str, revision: str) -> None:
    """A store left at ``revision`` by an older syncbeat, holding one pipeline."""
    engine = sa.create_engine(url)
    try:
        _upgrade_to(engine, revision)
        spec = PipelineSpec(
            name="kept",
            source_url="sqlite:///a.db",
            source_table="t",
            dest_url="sqlite:///b.db",
            dest_table="t",
        )
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO pipelines (name, spec, created_at, updated_at) "
                    "VALUES (:name, :spec, 1.0, 1.0)"
                ).bindparams(sa.bindparam("spec", type_=sa.JSON)),
                {"name": spec.name, "spec": spec.stored().model_dump()},
            )
    finally:
        engine.dispose()


def _check_upgrades_from_every_revision(
    fresh_url: Callable[[str], str], declared: dict[str, Any]
) -> None:
    older = _revisions()[:-1]
    if not older:
        pytest.skip("only one revision: no upgrade path to test yet")
    for revision in older:
        url = fresh_url(revision)
        _old_store_with_data(url, revision)
        sb = Syncbeat(url)
        try:
            assert sb.store.migrated == (revision, HEAD)
            _assert_current(sb.store, declared)
            assert [p.name for p in sb.pipelines()] == ["kept"]
        finally:
            sb.close()


def test_upgrades_from_every_older_revision_on_sqlite(tmp_path: Path) -> None:
    _check_upgrades_from_every_revision(
        lambda rev: f"sqlite:///{tmp_path / f'store-{rev}.db'}",
        _declared(f"sqlite:///{tmp_path / 'declared.db'}"),
    )


@PG
def test_upgrades_from_every_older_revision_on_postgresql(pg_url: str, pg_url2: str) -> None:
    declared = _declared(pg_url2)
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")

    def fresh(revision: str) -> str:
        with admin.connect() as conn:  # empty the database again
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        return pg_url

    try:
        _check_upgrades_from_every_revision(fresh, declared)
    finally:
        admin.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=PG)])
def test_stores_opened_at_once_are_migrated_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    start = threading.Barrier(4)
    results: list[Any] = []

    def open_store() -> None:
        start.wait()
        try:
            store = Store(url)
            results.append(store.migrated)
            store.dispose()
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(isinstance(r, Exception) for r in results), results
    assert len(results) == 4
    assert results.count((None, HEAD)) == 1, results  # exactly one of them migrated
    assert results.count((HEAD, HEAD)) == 3, results
    store = Store(url)
    try:
        assert _differences(store.engine) == []
    finally:
        store.dispose()


# -- stores this code cannot use ----------------------------------------------------------


def _set_version(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision})


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=PG)])
def test_a_newer_store_is_refused_untouched(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    store = Store(url)
    _set_version(store.engine, "ffff_from_the_future")
    before = _structure(store.engine)
    store.dispose()

    for migrate in (True, False):
        with pytest.raises(StoreError) as caught:
            Store(url, migrate=migrate)
        assert "newer than this syncbeat knows" in caught.value.message
        assert "ffff_from_the_future" in caught.value.message
        assert caught.value.hint is not None and "Upgrade syncbeat" in caught.value.hint

    for args in (["jobs"], ["db", "upgrade"]):
        result = run_cli(*args, store=url)
        text = result.stdout + result.stderr
        assert result.returncode == 1, text
        assert "Traceback" not in text
        assert "newer than this syncbeat knows" in text and "Upgrade syncbeat" in text

    engine = sa.create_engine(url)
    try:
        assert _version(engine) == "ffff_from_the_future"
        assert _structure(engine) == before
    finally:
        engine.dispose()


def test_an_unmigrated_store_is_refused_without_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with pytest.raises(StoreError) as caught:
        Store(url, migrate=False)
    assert HEAD in caught.value.message
    assert caught.value.hint is not None and "syncbeat db upgrade" in caught.value.hint


def _corrupt_copies(tmp_path: Path) -> dict[str, bytes]:
    real = tmp_path / "real.db"
    Store(f"sqlite:///{real}").dispose()
    header_kept = real.read_bytes()[:100] + b"\xde\xad\xbe\xef" * 2048
    return {
        "garbage": bytes((i * 7919 + 13) % 256 for i in range(8192)),
        "text": b"these are my notes, not a database\n" * 50,
        "header-then-garbage": header_kept,
    }


@pytest.mark.parametrize("damage", ["garbage", "text", "header-then-garbage"])
def test_a_corrupt_sqlite_store_gives_a_clear_error(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "store.db"
    content = _corrupt_copies(tmp_path)[damage]
    path.write_bytes(content)
    url = f"sqlite:///{path}"

    with pytest.raises(StoreError) as caught:
        Store(url)
    assert "Cannot use the job store" in caught.value.message

    for args in (["jobs"], ["db", "upgrade"]):
        result = run_cli(*args, store=url)
        text = result.stdout + result.stderr
        assert result.returncode == 1, text
        assert "Traceback" not in text
        assert "internal error" not in text
        assert "Cannot use the job store" in text
        assert re.search(r"not a database|malformed", text), text
        assert "--store" in text  # what to do: point at another store
    assert path.read_bytes() == content  # the file is never "repaired" or overwritten


# -- syncbeat db upgrade --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=PG)])
def test_db_upgrade_reports_what_it_did(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    first = run_cli("db", "upgrade", store=url, check=True)
    assert f"upgraded from schema none to {HEAD}" in first.stdout, first.stdout
    second = run_cli("db", "upgrade", store=url, check=True)
    assert f"is up to date (schema {HEAD})" in second.stdout, second.stdout
    assert "upgraded" not in second.stdout


def test_db_upgrade_of_an_older_store(tmp_path: Path) -> None:
    older = _revisions()[:-1]
    if not older:
        pytest.skip("only one revision: no upgrade path to test yet")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _old_store_with_data(url, older[0])
    result = run_cli("db", "upgrade", store=url, check=True)
    assert f"upgraded from schema {older[0]} to {HEAD}" in result.stdout, result.stdout
    listed = run_cli("pipeline", "list", store=url, check=True)
    assert "kept" in listed.stdout


def test_schema_version_constant_is_alembics_head() -> None:
    """Stores at SCHEMA_VERSION open without Alembic: the constant must name the newest
    migration, or a store would be taken as up to date when it is not."""
    from alembic.script import ScriptDirectory

    from syncbeat.store.store import SCHEMA_VERSION, _alembic_config

    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == SCHEMA_VERSION


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=PG)])
def test_pipelines_from_before_0004_count_as_the_apis(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A store cannot tell which older pipelines came through the API, so all of them
    get the allowlist (the safe side) until the operator saves them again; the new
    ones record who saved them."""
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    _old_store_with_data(url, "0002")
    sb = Syncbeat(url)
    try:
        assert sb.pipeline("kept").origin == "api"
        sb.save_pipeline(sb.pipeline_spec("kept"))
        assert sb.pipeline("kept").origin == "operator"
    finally:
        sb.close()
