"""Groups of people, who is in which, and the groups of each source shown with an answer.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("user_id", sa.String(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("group_name", sa.String(50), sa.ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True),
    )
    with op.batch_alter_table("citations") as batch:
        batch.add_column(sa.Column("groups", sa.JSON(), nullable=False, server_default=sa.text("'[\"everyone\"]'")))


def downgrade() -> None:
    with op.batch_alter_table("citations") as batch:
        batch.drop_column("groups")
    op.drop_table("group_members")
    op.drop_table("groups")
