"""Default pipeline names: readable, the same for the same pair, apart for others."""

from __future__ import annotations

from syncbeat.vocabulary.pipeline import default_name


def test_default_names_are_readable_stable_and_apart() -> None:
    name = default_name("postgresql://app:${PW}@db1/shop", "public.orders", "sqlite:///w.db", "o")
    assert name.startswith("shop.public.orders-to-w.o-") and len(name.rsplit("-", 1)[1]) == 8
    assert name == default_name(
        "postgresql://app:${PW}@db1/shop", "public.orders", "sqlite:///w.db", "o"
    )
    # Another host with a database of the same name is another pair; a password is not.
    assert name != default_name(
        "postgresql://app:${PW}@db2/shop", "public.orders", "sqlite:///w.db", "o"
    )
    same = default_name("postgresql://app:a@db/x", "t", "sqlite:///w.db", "t")
    assert same == default_name("postgresql://app:b@db/x", "t", "sqlite:///w.db", "t")
    long = default_name("sqlite:///s.db", "t" * 300, "sqlite:///d.db", "u" * 300)
    assert len(long) <= 200
