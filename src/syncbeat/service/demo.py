"""The demo: a realistic SQLite source, synced to a SQLite destination."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncbeat.vocabulary.pipeline import PipelineSpec

TABLE = "orders"
PIPELINE = "demo"

_FIRST = [
    "Ada",
    "Grace",
    "Linus",
    "Zoë",
    "José",
    "Søren",
    "Aiko",
    "Łukasz",
    "Chloé",
    "Mårten",
    "Nnamdi",
    "Anaïs",
    "Dmitrij",
    "Siobhán",
    "Yūki",
    "Ngozi",
    "Björn",
    "Inés",
    "Raúl",
    "Émile",
]
_LAST = [
    "Lovelace",
    "Hopper",
    "Torvalds",
    "Müller",
    "Øvergaard",
    "Nakamura",
    "Kowalski",
    "Dubois",
    "García",
    "O'Brien",
    "Okafor",
    "Petrović",
    "Ångström",
    "Ferreira",
    "李",
    "Иванов",
]
_STATUS = ["new", "paid", "shipped", "delivered", "returned"]
_NOTES = [
    None,
    None,
    None,
    "gift wrap 🎁",
    "leave at the door",
    "fragile — handle with care",
    "call before delivery",
    "express",
]


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("customer", sa.String(100), nullable=False),
        sa.Column("email", sa.String(200), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("shipped_at", sa.DateTime),
        sa.Column("paid", sa.Boolean, nullable=False),
        sa.Column("attributes", sa.JSON),
        sa.Column("note", sa.Text),
    )


def _row(rng: random.Random, i: int, epoch: dt.datetime) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    created = epoch + dt.timedelta(
        seconds=rng.randrange(0, 3 * 365 * 86400), microseconds=rng.randrange(1_000_000)
    )
    shipped = created + dt.timedelta(hours=rng.randrange(1, 240)) if rng.random() < 0.7 else None
    return {
        "id": i,
        "customer": f"{first} {last}",
        "email": f"{first.lower()}.{i}@example.com",
        "amount": Decimal(rng.randrange(100, 10_000_000)) / 100,
        "quantity": rng.randrange(1, 50),
        "status": rng.choice(_STATUS),
        "created_at": created,
        "shipped_at": shipped,
        "paid": rng.random() < 0.8,
        "attributes": None
        if rng.random() < 0.1
        else {
            "channel": rng.choice(["web", "app", "store"]),
            "items": rng.randrange(1, 9),
            "tags": rng.sample(["new", "vip", "sale", "b2b"], rng.randrange(0, 3)),
        },
        "note": rng.choice(_NOTES),
    }


def make_source(path: Path, rows: int, *, seed: int = 42) -> bool:
    """Create the demo source with ``rows`` rows; keep one that is already complete.
    Returns True when it was (re)built."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if sa.inspect(conn).has_table(TABLE):
                have = conn.execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar_one()  # noqa: S608 (a constant)
                if have == rows:
                    return False
        metadata = sa.MetaData()
        table = _table(metadata)
        with engine.begin() as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)
            rng = random.Random(seed)  # noqa: S311 (demo data, not a secret)
            epoch = dt.datetime(2023, 1, 1)
            chunk = 10_000
            for start in range(1, rows + 1, chunk):
                conn.execute(
                    table.insert(),
                    [_row(rng, i, epoch) for i in range(start, min(start + chunk, rows + 1))],
                )
        return True
    finally:
        engine.dispose()


def spec(directory: Path) -> PipelineSpec:
    return PipelineSpec(
        name=PIPELINE,
        source_url=f"sqlite:///{directory / 'source.db'}",
        source_table=TABLE,
        dest_url=f"sqlite:///{directory / 'dest.db'}",
        dest_table=TABLE,
        mode="upsert",
        batch_size=2_000,
    )


def columns() -> list[str]:
    return [c.name for c in _table(sa.MetaData()).columns]
