"""Change stamps: a counter per kind of derived state (the active ranker, the reviews behind the
verified answers), bumped in the transaction that changes it, so a server re-reads that state only
when its stamp moved instead of on every question.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamps = op.create_table(
        "stamps",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("value", sa.Integer(), nullable=False),
    )
    op.bulk_insert(stamps, [{"name": "rankers", "value": 0}, {"name": "reviews", "value": 0}])


def downgrade() -> None:
    op.drop_table("stamps")
