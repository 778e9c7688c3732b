"""The headers every answer carries so that a browser keeps the pages to themselves.

No other site may frame them (clickjacking), and nothing but this server's own files may
run or style them, so text that reaches a page (a job's error, a pipeline's name) can
never become a script even if escaping were ever missed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence


def page_policy(style_sources: Sequence[str] = ()) -> str:
    """The Content-Security-Policy: only this server's files (``'self'``), plus the
    inline styles of ``style_sources`` (CSP hashes). ``data:`` images: Swagger UI's
    stylesheet draws its icons with them."""
    styles = " ".join(["'self'", *style_sources])
    return (
        f"default-src 'self'; style-src {styles}; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


def inline_hash(text: str) -> str:
    """The CSP source that allows one inline ``<style>`` or ``<script>`` holding
    exactly ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", page_policy().encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
)
"""Added to every answer that does not set one of them itself."""
