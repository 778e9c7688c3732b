"""Pipelines record who saved them: the operator, or a token holder through the API.

Existing pipelines become "api": a store cannot tell which of them came through the
API, and treating an API pipeline as the operator's would let it read any of the
workers' environment variables and files. An operator's own pipeline whose URLs use
variables outside the allowlist, or SQLite files outside the data directories, fails
with a message saying so until it is saved again with `syncbeat pipeline add`.

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has it): a batch copy of the table would go through a
    # DROP TABLE that the jobs' ON DELETE CASCADE could follow.
    op.add_column(
        "pipelines", sa.Column("origin", sa.String(16), nullable=False, server_default="api")
    )
