"""Groups of people: which groups exist, who is in which, and so which documents a person may see.

Every person is in ``everyone``, which is built in and never stored. Other groups are rows of the
``groups`` table: ``add_group`` makes one, so that people and documents can be given it; a name that
is not a group is refused with the list of those that are. Removing a group takes its people out of
it (they then see less, never more); whoever removes it checks first that no document is still in it
(``app/cli/groups.py`` asks the index).

``sees`` is the one rule of what a person's searches are filtered by: their groups and ``everyone``;
an admin sees every document. API keys act with their person's groups as they are at each request.
"""

from collections.abc import Iterable

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from feedback import events
from feedback.accounts import _user
from feedback.db import Database
from feedback.models import Group, GroupMember, User
from feedback.writing import NotFound, _log
from retrieval import groups as chunk_groups
from retrieval.errors import GroundloopError

EVERYONE = chunk_groups.EVERYONE


class UnknownGroup(NotFound):
    """A group name that is not a group; the message lists those that are."""


def add_group(db: Database, *, name: str, actor_id: str | None = None) -> Group:
    (name,) = _one(name)
    if name == EVERYONE:
        raise GroundloopError("'everyone' is built in: every person is in it already.")
    with db.write() as session:
        if session.get(Group, name) is not None:
            raise GroundloopError(f"A group named '{name}' already exists.")
        group = Group(name=name)
        try:
            with session.begin_nested():
                session.add(group)
        except IntegrityError:  # added by someone else in the meantime
            raise GroundloopError(f"A group named '{name}' already exists.") from None
        _group_event(session, actor_id=actor_id, action="group_added", name=name)
        return group


def remove_group(db: Database, *, name: str, actor_id: str | None = None) -> list[str]:
    """Remove the group; the people who were in it, by name (they are in it no more)."""
    (name,) = _one(name)
    if name == EVERYONE:
        raise GroundloopError("'everyone' is built in and cannot be removed.")
    with db.write() as session:
        group = session.get(Group, name)
        if group is None:
            raise _unknown(session, [name])
        members = _members(session, name)
        for member in session.exec(select(GroupMember).where(GroupMember.group_name == name)):
            session.delete(member)
        session.flush()
        session.delete(group)
        _group_event(session, actor_id=actor_id, action="group_removed", name=name, members=len(members))
        return members


def list_groups(db: Database) -> list[tuple[str, int | None]]:
    """Every group with how many people are in it; ``everyone`` first (None: all of them)."""
    with db.read() as session:
        counts = dict(session.exec(select(GroupMember.group_name, func.count()).group_by(GroupMember.group_name)).all())
        names = session.exec(select(Group.name).order_by(Group.name)).all()
    return [(EVERYONE, None), *((name, counts.get(name, 0)) for name in names)]


def known(db: Database) -> tuple[str, ...]:
    """The names of every group, ``everyone`` first."""
    return tuple(name for name, _ in list_groups(db))


def check_known(db: Database, names: Iterable[str]) -> tuple[str, ...]:
    """``names`` parsed (``retrieval.groups.parse``), each an existing group, or UnknownGroup saying which are."""
    parsed = chunk_groups.parse(names)
    with db.read() as session:
        _check_known(session, parsed)
    return parsed


def set_user_groups(db: Database, *, identifier: str, names: Iterable[str], actor_id: str | None = None) -> tuple[str, ...]:
    """Put the person in exactly these groups (``everyone`` is implied; nothing else means only
    everyone); their groups as stored, sorted."""
    wanted = tuple(name for name in _parsed_or_none(names) if name != EVERYONE)
    with db.write() as session:
        user = _user(session, identifier)
        _check_known(session, wanted)
        for member in session.exec(select(GroupMember).where(GroupMember.user_id == user.id)):
            if member.group_name not in wanted:
                session.delete(member)
        had = set(_groups(session, user.id))
        for name in wanted:
            if name not in had:
                session.add(GroupMember(user_id=user.id, group_name=name))
        _log(session, actor_id=actor_id, action="groups_set", subject=user, groups=list(wanted))
        return wanted


def user_groups(db: Database, *, user_id: str) -> tuple[str, ...]:
    """The groups the person was put in (``everyone`` left out), sorted."""
    with db.read() as session:
        return _groups(session, user_id)


def groups_by_user(db: Database) -> dict[str, tuple[str, ...]]:
    """Per person's id, the groups they were put in (for listings)."""
    with db.read() as session:
        rows = session.exec(select(GroupMember.user_id, GroupMember.group_name).order_by(GroupMember.group_name)).all()
    found: dict[str, list[str]] = {}
    for user_id, name in rows:
        found.setdefault(user_id, []).append(name)
    return {user_id: tuple(names) for user_id, names in found.items()}


def sees(db: Database, user: User | str) -> tuple[str, ...] | None:
    """The groups whose documents the person's searches may return: their own and ``everyone``;
    None (every document) for an admin. ``user``: the row, or the person's id (read now, so a change
    of groups or role counts from the next question on)."""
    with db.read() as session:
        row = session.get(User, user) if isinstance(user, str) else user
        if row is None:
            raise NotFound("No such person: sign in again.")
        if row.role == "admin":
            return None
        return chunk_groups.member(_groups(session, row.id))


def _groups(session: Session, user_id: str) -> tuple[str, ...]:
    return tuple(session.exec(
        select(GroupMember.group_name).where(GroupMember.user_id == user_id).order_by(GroupMember.group_name)).all())


def _members(session: Session, name: str) -> list[str]:
    return list(session.exec(
        select(User.identifier).join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_name == name).order_by(User.identifier)).all())


def _check_known(session: Session, names: Iterable[str]) -> None:
    existing = set(session.exec(select(Group.name)).all()) | {EVERYONE}
    unknown = [name for name in names if name not in existing]
    if unknown:
        raise _unknown(session, unknown)


def _unknown(session: Session, names: list[str]) -> UnknownGroup:
    existing = [EVERYONE, *session.exec(select(Group.name).order_by(Group.name)).all()]
    which = "groups" if len(names) > 1 else "group"
    return UnknownGroup(
        f"Unknown {which} {', '.join(repr(n) for n in names)}: the groups are {', '.join(existing)} "
        "(add one with: groundloop groups add NAME)."
    )


def _one(name: str) -> tuple[str]:
    parsed = chunk_groups.parse([name])
    if len(parsed) != 1 or "," in name:
        raise GroundloopError("Name one group.")
    return parsed


def _parsed_or_none(names: Iterable[str]) -> tuple[str, ...]:
    """Parsed names; none at all is allowed here (a person in no group but everyone)."""
    given = names.split(",") if isinstance(names, str) else list(names)
    return chunk_groups.parse(given) if any(n.strip() for n in given) else ()


def _group_event(session: Session, *, actor_id: str | None, action: str, name: str, **data) -> None:
    events.add(session, actor_id=actor_id, action=action, subject_type="groups", subject_id=name, data=data)
