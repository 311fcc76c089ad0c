"""Webhook delivery state: each feedback event queued once per target, claimed by one worker only,
retried later after a failure, and given up after the last attempt. Two database handles on one
database stand for two server workers."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlmodel import select

from feedback import opinions, webhooks
from feedback.db import Database
from feedback.models import Event, WebhookDelivery, now

TARGETS = ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]


def feedback_events(db: Database) -> list[int]:
    with db.read() as session:
        return list(session.exec(select(Event.id).where(Event.action.in_(webhooks.FEEDBACK_ACTIONS)).order_by(Event.id)))


def test_each_feedback_event_is_queued_once_per_target_even_when_workers_race(db, alice, make_answer):
    answer = make_answer(alice)
    for n in range(10):
        opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=n % 2 == 0)
    opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=1, relevant=True)
    opinions.record_correction(db, answer_id=answer.id, user_id=alice.id, text="Scattering of sunlight [1].")
    workers = [db, Database(db.url)]

    with ThreadPoolExecutor(4) as pool:
        added = list(pool.map(lambda handle: webhooks.enqueue(handle, targets=TARGETS), workers * 2))

    expected = feedback_events(db)
    assert len(expected) == 12  # ten thumbs, a mark, a correction: not the answer, users or threads
    assert sum(added) == 2 * len(expected)
    rows = webhooks.deliveries(db)
    for target in TARGETS:
        assert [r.event_id for r in rows if r.target == target] == expected
    assert {(r.status, r.attempts) for r in rows} == {("pending", 0)}
    assert webhooks.enqueue(db, targets=TARGETS) == 0
    workers[1].dispose()


def test_a_due_delivery_is_claimed_by_one_worker_only(db, alice, make_answer):
    answer = make_answer(alice)
    for n in range(30):
        opinions.record_comment(db, answer_id=answer.id, user_id=alice.id, text=f"comment {n}")
    webhooks.enqueue(db, targets=TARGETS[:1])
    workers = [db, Database(db.url), db, Database(db.url)]

    def drain(handle: Database) -> list[int]:
        taken = []
        while batch := webhooks.claim(handle, limit=3, lease_seconds=60):
            taken += [item.delivery_id for item in batch]
        return taken

    with ThreadPoolExecutor(4) as pool:
        claimed = [delivery for taken in pool.map(drain, workers) for delivery in taken]

    assert sorted(claimed) == [row.id for row in webhooks.deliveries(db)]  # every one, none twice
    assert webhooks.claim(db, limit=100, lease_seconds=60) == []  # leased: not due again yet
    for handle in workers[1::2]:
        handle.dispose()


def test_a_claim_carries_the_event_as_it_was_logged(db, alice, make_answer):
    answer = make_answer(alice)
    thumb = opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=False)
    webhooks.enqueue(db, targets=TARGETS[:1])

    [item] = webhooks.claim(db, limit=10, lease_seconds=60)

    assert (item.target, item.attempts) == (TARGETS[0], 1)
    event = item.event
    assert (event["action"], event["actor_id"], event["subject_type"], event["subject_id"]) == (
        "thumb", alice.id, "feedback", thumb.id)
    assert event["data"] == {"answer_id": answer.id, "value": -1}


def test_a_sender_that_died_mid_delivery_is_followed_by_another_once_the_lease_ends(db, alice, make_answer):
    opinions.record_thumb(db, answer_id=make_answer(alice).id, user_id=alice.id, up=True)
    webhooks.enqueue(db, targets=TARGETS[:1])
    [first] = webhooks.claim(db, limit=10, lease_seconds=0)  # ...and never reports back

    [again] = webhooks.claim(db, limit=10, lease_seconds=60)

    assert (again.delivery_id, again.attempts) == (first.delivery_id, 2)


def test_failures_wait_twice_as_long_each_time_up_to_the_cap_then_give_up(db, alice, make_answer):
    opinions.record_thumb(db, answer_id=make_answer(alice).id, user_id=alice.id, up=True)
    webhooks.enqueue(db, targets=TARGETS[:1])
    waits = []
    for attempt in range(1, 5):
        [item] = webhooks.claim(db, limit=1, lease_seconds=0)
        assert item.attempts == attempt
        before = now()
        retry_at = webhooks.mark_failed(db, delivery_id=item.delivery_id, attempts=item.attempts, error="HTTP 500",
                                        max_attempts=4, backoff_seconds=10, max_backoff_seconds=30)
        waits.append(round((retry_at - before).total_seconds()) if retry_at else None)
        with db.write() as session:  # let the next attempt be due now
            row = session.get(WebhookDelivery, item.delivery_id)
            row.next_attempt_at = now() - timedelta(seconds=1)
            session.add(row)

    assert waits == [10, 20, 30, None]
    [row] = webhooks.deliveries(db)
    assert (row.status, row.attempts, row.last_error, row.delivered_at) == ("failed", 4, "HTTP 500", None)
    assert webhooks.claim(db, limit=10, lease_seconds=0) == []
    assert webhooks.counts_by_status(db) == {"failed": 1}


def test_a_delivered_event_is_not_sent_again(db, alice, make_answer):
    opinions.record_thumb(db, answer_id=make_answer(alice).id, user_id=alice.id, up=True)
    webhooks.enqueue(db, targets=TARGETS[:1])
    [item] = webhooks.claim(db, limit=10, lease_seconds=0)

    webhooks.mark_delivered(db, delivery_id=item.delivery_id)

    assert webhooks.claim(db, limit=10, lease_seconds=0) == []
    assert webhooks.enqueue(db, targets=TARGETS[:1]) == 0
    [row] = webhooks.deliveries(db)
    assert row.status == "delivered" and row.delivered_at is not None
