"""Answers with the sources they showed, feedback on them, and the audit log.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "answers",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("step_id", sa.String(100), nullable=True, unique=True),
        sa.Column("thread_id", sa.String(), sa.ForeignKey("threads.id", ondelete="CASCADE"), nullable=True),
        sa.Column("user_id", sa.String(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("question", sa.String(), nullable=False),
        sa.Column("standalone_question", sa.String(), nullable=False),
        sa.Column("answer", sa.String(), nullable=False),
        sa.Column("answerer", sa.String(200), nullable=False),
        sa.Column("ranker_version", sa.String(100), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("timings_ms", sa.JSON(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
    )
    for column in ("created_at", "thread_id", "user_id"):
        op.create_index(f"ix_answers_{column}", "answers", [column])
    op.create_table(
        "citations",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("answer_id", sa.String(), sa.ForeignKey("answers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("doc_id", sa.String(), nullable=False),
        sa.Column("chunk_id", sa.String(100), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("cited", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_citations_answer_id", "citations", ["answer_id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("answer_id", sa.String(), sa.ForeignKey("answers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(), nullable=True),
        sa.Column("citation_id", sa.String(), sa.ForeignKey("citations.id", ondelete="CASCADE"), nullable=True),
        sa.Column("doc_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    for column in ("answer_id", "created_at", "user_id"):
        op.create_index(f"ix_feedback_{column}", "feedback", [column])
    for kind, columns in (("thumb", ["answer_id", "user_id"]), ("source_mark", ["answer_id", "user_id", "citation_id"])):
        where = sa.text(f"kind = '{kind}'")
        op.create_index(f"uq_feedback_{kind}", "feedback", columns, unique=True, sqlite_where=where, postgresql_where=where)
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("actor_id", sa.String(100), nullable=True),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("subject_type", sa.String(50), nullable=False),
        sa.Column("subject_id", sa.String(100), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_events_at", "events", ["at"])


def downgrade() -> None:
    for table in ("events", "feedback", "citations", "answers"):
        op.drop_table(table)
