"""Reviewers' decisions, and rankers learned from feedback with their held-out metrics and status.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("answer_id", sa.String(), sa.ForeignKey("answers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("reviewer_id", sa.String(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("text", sa.String(), nullable=True),
        sa.Column("doc_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index("ix_reviews_answer_id", "reviews", ["answer_id"])
    op.create_index("ix_reviews_created_at", "reviews", ["created_at"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(50), nullable=False, unique=True),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("activated_at", WHEN, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("model_versions")
    op.drop_table("reviews")
