"""PostgreSQL domains (Pagila's ``year``, over integer) in the source: every destination
gets the domain's base type and the values, never "type year does not exist" nor TEXT.
The domain's own CHECK is not carried (docs/types.md)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from syncbeat import PipelineSpec, Syncbeat
from tests.support.sql import column_types, execute, table_rows

pytestmark = pytest.mark.postgres


def _film(pg_url: str) -> None:
    execute(
        pg_url,
        "CREATE DOMAIN year AS integer CONSTRAINT year_check "
        "CHECK (VALUE >= 1901 AND VALUE <= 2155)",
        "CREATE DOMAIN title_text AS varchar(60) NOT NULL",
        "CREATE DOMAIN price AS numeric(5, 2) DEFAULT 4.99",
        "CREATE TABLE film (film_id integer PRIMARY KEY, title title_text, "
        "release_year year, rental_rate price)",
        "INSERT INTO film VALUES (1, 'ACADEMY DINOSAUR', 2006, 0.99), "
        "(2, 'ACE GOLDFINGER', 1901, 4.99), (3, 'ADAPTATION HOLES', NULL, 2.99)",
    )


@pytest.fixture(params=["postgresql", pytest.param("mariadb", marks=pytest.mark.mariadb), "sqlite"])
def dest(request: pytest.FixtureRequest) -> str:
    fixture = {"postgresql": "pg_url2", "mariadb": "mariadb_url", "sqlite": "sqlite_url"}
    return str(request.getfixturevalue(fixture[request.param]))


def test_a_domain_column_arrives_as_its_base_type(pg_url: str, dest: str, store_url: str) -> None:
    _film(pg_url)
    sb = Syncbeat(store_url)
    spec = PipelineSpec(
        name="film",
        source_url=pg_url,
        source_table="film",
        dest_url=dest,
        dest_table="film",
        batch_size=2,
    )
    job, outcome = sb.sync(spec)
    sb.close()
    assert outcome.status == "completed", outcome.message
    assert job.rows_done == 3
    assert table_rows(dest, "film", ["film_id"]) == table_rows(pg_url, "film", ["film_id"])

    columns = column_types(dest, "film")
    assert isinstance(columns["release_year"], sa.Integer), columns
    assert isinstance(columns["title"], sa.String), columns
    assert isinstance(columns["rental_rate"], sa.Numeric), columns
    if not dest.startswith("sqlite"):  # SQLite has no lengths; its NUMERIC(5,2) is TEXT
        assert columns["title"].length == 60
        assert (columns["rental_rate"].precision, columns["rental_rate"].scale) == (5, 2)
    if dest.startswith("postgresql"):
        # The base type, not a copy of the domain: the source's CHECK is not carried.
        execute(dest, "INSERT INTO film (film_id, release_year) VALUES (4, 1800)")
