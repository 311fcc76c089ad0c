"""The writers, the only code that writes the feedback tables, on SQLite and on PostgreSQL."""

from datetime import timedelta

import pytest
from sqlmodel import select

from feedback import accounts, answer_log, opinions
from feedback.db import Database
from feedback.models import Answer, Event, Feedback, User
from feedback.writing import NotAllowed, NotFound
from retrieval.errors import GroundloopError


def events(db: Database) -> list[tuple[str | None, str, str, str]]:
    """(actor, action, subject type, subject id) of every event, oldest first."""
    with db.read() as session:
        return [(e.actor_id, e.action, e.subject_type, e.subject_id)
                for e in session.exec(select(Event).order_by(Event.id))]


def rows(db: Database, table) -> list:
    with db.read() as session:
        return list(session.exec(select(table)))


def test_a_new_thumb_replaces_the_old_one(db, alice, make_answer):
    answer = make_answer(alice)
    up = opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=True)
    down = opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=False)

    [thumb] = opinions.feedback_on(db, answer_id=answer.id)
    assert (thumb.kind, thumb.value, thumb.id) == ("thumb", -1, up.id)
    assert down.id == up.id
    assert thumb.updated_at >= thumb.created_at


def test_each_person_has_their_own_thumb_on_an_anonymous_answer(db, alice, bob, make_answer):
    answer = make_answer(None)
    opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=True)
    opinions.record_thumb(db, answer_id=answer.id, user_id=bob.id, up=False)

    thumbs = {f.user_id: f.value for f in opinions.feedback_on(db, answer_id=answer.id)}
    assert thumbs == {alice.id: 1, bob.id: -1}


def test_a_comment_rides_along_with_a_thumb(db, alice, make_answer):
    answer = make_answer(alice)
    opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=False, comment="  Wrong year.  ")
    opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=False, comment="   ")

    kinds = sorted((f.kind, f.value, f.text) for f in opinions.feedback_on(db, answer_id=answer.id))
    assert kinds == [("comment", None, "Wrong year."), ("thumb", -1, None)]


def test_comments_add_up(db, alice, make_answer):
    answer = make_answer(alice)
    opinions.record_comment(db, answer_id=answer.id, user_id=alice.id, text=" first ")
    opinions.record_comment(db, answer_id=answer.id, user_id=alice.id, text="second")

    assert sorted(f.text for f in opinions.feedback_on(db, answer_id=answer.id)) == ["first", "second"]


def test_only_the_owner_deletes_a_thumb(db, alice, bob, make_answer):
    answer = make_answer(None)
    thumb = opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=True, comment="nice")

    with pytest.raises(NotAllowed, match="someone else's"):
        opinions.delete_thumb(db, feedback_id=thumb.id, user_id=bob.id)
    assert len(opinions.feedback_on(db, answer_id=answer.id)) == 2

    opinions.delete_thumb(db, feedback_id=thumb.id, user_id=alice.id)
    assert [f.kind for f in opinions.feedback_on(db, answer_id=answer.id)] == ["comment"]
    assert events(db)[-1] == (alice.id, "thumb_deleted", "feedback", thumb.id)


def test_delete_thumb_names_only_thumbs(db, alice, make_answer):
    answer = make_answer(alice)
    comment = opinions.record_comment(db, answer_id=answer.id, user_id=alice.id, text="hm")

    for feedback_id in (comment.id, "no-such-id"):
        with pytest.raises(NotFound, match="No such rating"):
            opinions.delete_thumb(db, feedback_id=feedback_id, user_id=alice.id)
    assert len(opinions.feedback_on(db, answer_id=answer.id)) == 1


def test_a_source_mark_replaces_the_mark_on_the_same_source(db, alice, make_answer):
    answer = make_answer(alice)
    first = opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=1, relevant=True)
    again = opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=1, relevant=False)
    opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=3, relevant=True)

    citation = {c.id: c.rank for c in answer_log.citations_of(db, answer_id=answer.id)}
    marks = sorted(
        (citation[f.citation_id], f.value, f.doc_ids) for f in opinions.feedback_on(db, answer_id=answer.id)
    )
    assert marks == [(1, 0, ["doc-1"]), (3, 1, ["doc-3"])]
    assert again.id == first.id


def test_a_correction_stores_the_sources_it_names(db, alice, make_answer):
    answer = make_answer(alice)
    correction = opinions.record_correction(
        db, answer_id=answer.id, user_id=alice.id, text=" It is 1969. ", ranks=[3, 1, 3]
    )
    plain = opinions.record_correction(db, answer_id=answer.id, user_id=alice.id, text="No idea which.")

    stored = {f.id: (f.kind, f.text, f.doc_ids) for f in opinions.feedback_on(db, answer_id=answer.id)}
    assert stored == {
        correction.id: ("correction", "It is 1969.", ["doc-1", "doc-3"]),
        plain.id: ("correction", "No idea which.", []),
    }


def test_unknown_source_numbers_are_not_found_and_write_nothing(db, alice, make_answer):
    answer = make_answer(alice, sources=2)
    before = events(db)

    with pytest.raises(NotFound, match=r"no source \[3\]"):
        opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=3, relevant=True)
    with pytest.raises(NotFound, match=r"no source \[0\], \[7\]"):
        opinions.record_correction(db, answer_id=answer.id, user_id=alice.id, text="x", ranks=[1, 7, 0])

    assert opinions.feedback_on(db, answer_id=answer.id) == []
    assert events(db) == before


def test_unknown_answer_is_not_found(db, alice):
    with pytest.raises(NotFound, match="No such answer"):
        opinions.record_thumb(db, answer_id="missing", user_id=alice.id, up=True)
    with pytest.raises(NotFound, match="No such answer"):
        opinions.record_comment(db, answer_id="missing", user_id=alice.id, text="hello")


def test_nobody_gives_feedback_on_an_answer_given_to_someone_else(db, alice, bob, make_answer):
    answer = make_answer(alice)
    before = events(db)
    writes = [
        lambda: opinions.record_thumb(db, answer_id=answer.id, user_id=bob.id, up=False, comment="bad"),
        lambda: opinions.record_comment(db, answer_id=answer.id, user_id=bob.id, text="bad"),
        lambda: opinions.record_source_mark(db, answer_id=answer.id, user_id=bob.id, rank=1, relevant=False),
        lambda: opinions.record_correction(db, answer_id=answer.id, user_id=bob.id, text="bad", ranks=[1]),
    ]
    for attempt in writes:
        with pytest.raises(NotAllowed, match="given to someone else"):
            attempt()

    assert rows(db, Feedback) == []
    assert events(db) == before


def test_every_write_logs_exactly_one_event(db, alice, make_answer):
    carol = accounts.add_user(db, identifier="carol", role="reviewer")
    accounts.set_role(db, identifier="carol", role="admin", actor_id=alice.id)
    accounts.set_password(db, identifier="carol", password="correct horse")
    answer = make_answer(alice)
    thumb = opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=True, comment="good")
    [comment] = [f for f in opinions.feedback_on(db, answer_id=answer.id) if f.kind == "comment"]
    again = opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=False)
    note = opinions.record_comment(db, answer_id=answer.id, user_id=alice.id, text="more")
    mark = opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=2, relevant=True)
    fix = opinions.record_correction(db, answer_id=answer.id, user_id=alice.id, text="fixed", ranks=[2])
    opinions.delete_thumb(db, feedback_id=thumb.id, user_id=alice.id)

    assert events(db) == [
        (None, "user_added", "users", alice.id),
        (None, "user_added", "users", carol.id),
        (alice.id, "role_set", "users", carol.id),
        (carol.id, "password_set", "users", carol.id),
        (alice.id, "answered", "answers", answer.id),
        (alice.id, "thumb", "feedback", thumb.id),
        (alice.id, "comment", "feedback", comment.id),
        (alice.id, "thumb", "feedback", again.id),
        (alice.id, "comment", "feedback", note.id),
        (alice.id, "source_mark", "feedback", mark.id),
        (alice.id, "correction", "feedback", fix.id),
        (alice.id, "thumb_deleted", "feedback", thumb.id),
    ]
    with db.read() as session:
        details = {e.action: e.data for e in session.exec(select(Event))}
    assert details["correction"] == {"answer_id": answer.id, "doc_ids": ["doc-2"]}
    assert details["source_mark"] == {"answer_id": answer.id, "doc_id": "doc-2", "relevant": True}
    assert details["role_set"] == {"role": "admin"}


def test_an_answer_keeps_exactly_the_sources_shown(db, alice, make_answer):
    answer = make_answer(alice, sources=3)
    with db.write() as session:
        session.get(Answer, answer.id).step_id = "step-1"

    assert answer_log.answer_for_step(db, step_id="step-1").id == answer.id
    assert answer_log.answer_for_step(db, step_id="step-2") is None
    shown = [(c.rank, c.doc_id, c.cited) for c in answer_log.citations_of(db, answer_id=answer.id)]
    assert shown == [(1, "doc-1", True), (2, "doc-2", False), (3, "doc-3", False)]
    stored = answer_log.answer_for_step(db, step_id="step-1")
    assert (stored.reasons, stored.timings_ms, stored.ranker_version) == ([], {"total": 12.5}, "fusion")


def test_timestamps_come_back_timezone_aware_utc(db, alice, make_answer):
    answer = make_answer(alice)
    opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=True)
    with db.read() as session:
        stamps = [
            session.exec(select(User.created_at)).first(),
            session.exec(select(Answer.created_at)).first(),
            *session.exec(select(Feedback.created_at)),
            *session.exec(select(Feedback.updated_at)),
            *session.exec(select(Event.at)),
        ]
    assert [s.utcoffset() for s in stamps] == [timedelta(0)] * len(stamps)


def test_passwords_are_stored_as_argon2_hashes(db):
    accounts.add_user(db, identifier="dana", password="correct horse")
    accounts.add_user(db, identifier="eve")

    stored = accounts.get_user(db, identifier="dana").password_hash
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert accounts.authenticate(db, identifier="dana", password="correct horse").identifier == "dana"
    assert accounts.authenticate(db, identifier="dana", password="Correct horse") is None
    assert accounts.authenticate(db, identifier="nobody", password="correct horse") is None
    assert accounts.authenticate(db, identifier="eve", password="") is None

    accounts.set_password(db, identifier="dana", password="battery staple")
    assert accounts.authenticate(db, identifier="dana", password="correct horse") is None
    assert accounts.authenticate(db, identifier="dana", password="battery staple") is not None


def test_users_and_roles_are_checked(db, alice):
    with pytest.raises(GroundloopError, match="A user named 'alice' already exists."):
        accounts.add_user(db, identifier="alice", role="admin")
    with pytest.raises(GroundloopError, match="Unknown role 'boss': use one of user, reviewer, admin."):
        accounts.add_user(db, identifier="frank", role="boss")
    with pytest.raises(GroundloopError, match="Unknown role 'boss'"):
        accounts.set_role(db, identifier="alice", role="boss")
    with pytest.raises(NotFound, match="No user named 'zed'"):
        accounts.set_role(db, identifier="zed", role="admin")

    accounts.set_role(db, identifier="alice", role="reviewer")
    accounts.add_user(db, identifier="aaron")
    assert [(u.identifier, u.role) for u in accounts.list_users(db)] == [("aaron", "user"), ("alice", "reviewer")]
    assert accounts.get_user(db, identifier="frank") is None
    assert [e[1] for e in events(db)].count("user_added") == 2
