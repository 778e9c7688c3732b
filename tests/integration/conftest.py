"""The directed pair of engines a matrix test runs on (``pair``, parametrized by the
modules with ``PAIRS`` of test_type_fidelity): each side's kind and a fresh database's URL;
two sides of one engine get two databases (MariaDB: one, the tables kept apart)."""

from __future__ import annotations

import pytest

from tests.integration.test_type_fidelity import URL_FIXTURES


@pytest.fixture
def pair(request: pytest.FixtureRequest) -> tuple[str, str, str, str]:
    src, dst = request.param
    src_url = request.getfixturevalue(URL_FIXTURES[src][0])
    dst_url = request.getfixturevalue(URL_FIXTURES[dst][1 if dst == src else 0])
    return src, dst, src_url, dst_url
