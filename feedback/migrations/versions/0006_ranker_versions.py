"""One word for the learned rankers: the table model_versions becomes ranker_versions, with every
row kept, and the audit events about them say ranker_* (the events themselves are kept too).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ACTIONS = (("model_trained", "ranker_trained"), ("model_activated", "ranker_activated"),
           ("model_rolled_back", "ranker_rolled_back"))
POSTGRES_NAMES = (("SEQUENCE", "{}_id_seq"), ("INDEX", "{}_pkey"), ("INDEX", "{}_version_key"))


def upgrade() -> None:
    _rename("model_versions", "ranker_versions", ACTIONS)


def downgrade() -> None:
    _rename("ranker_versions", "model_versions", tuple((new, old) for old, new in ACTIONS))


def _rename(old: str, new: str, actions: tuple[tuple[str, str], ...]) -> None:
    op.rename_table(old, new)
    if op.get_bind().dialect.name == "postgresql":  # what PostgreSQL named after the table when it was made
        for kind, name in POSTGRES_NAMES:
            op.execute(f"ALTER {kind} IF EXISTS {name.format(old)} RENAME TO {name.format(new)}")
    events = sa.table("events", sa.column("action", sa.String), sa.column("subject_type", sa.String))
    op.execute(events.update().where(events.c.subject_type == old).values(subject_type=new))
    for before, after in actions:
        op.execute(events.update().where(events.c.action == before).values(action=after))
