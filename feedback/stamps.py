"""Change stamps: what lets a server keep the active ranker and the verified answers in memory and
re-read them only when another process (or thread) changed them.

``bump`` runs inside the writer's transaction, so a stamp never moves without the change it stands
for; ``read`` is one primary-key lookup, what a question costs instead of re-reading the tables.
"""

from sqlalchemy import update
from sqlmodel import Session

from feedback.db import Database
from feedback.models import Stamp

RANKERS, REVIEWS = "rankers", "reviews"


def bump(session: Session, name: str) -> None:
    changed = session.execute(update(Stamp).where(Stamp.name == name).values(value=Stamp.value + 1))
    if not changed.rowcount:
        session.add(Stamp(name=name, value=1))


def read(db: Database, name: str) -> int:
    with db.read() as session:
        stamp = session.get(Stamp, name)
        return stamp.value if stamp is not None else 0
