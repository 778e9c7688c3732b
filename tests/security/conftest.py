"""The API's fixtures (a real store of each kind, an httpx client with the token), for
the attacks a token holder can try."""

# Imported to be registered as this directory's fixtures too (pytest finds them by name).
from tests.api.conftest import (  # noqa: F401
    _pg_store_template,
    _sqlite_store_template,
    app,
    client,
    portal,
    sb,
    store,
)
