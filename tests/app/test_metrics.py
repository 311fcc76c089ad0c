"""/metrics read with prometheus_client's own text parser, /healthz and /readyz, as a scraper and
a load balancer see them."""

import urllib.request

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

import app.server
from app import components, runtime
from app.metrics import share_between_workers
from feedback import accounts, answer_log, opinions, ranker_versions
from tests.conftest import free_port

Samples = dict[tuple[str, frozenset], float]


def scrape(text: str) -> Samples:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def record(db, user, *, verdict: str):
    return answer_log.record_answer(
        db, question="How hot for green tea?", standalone_question="How hot for green tea?",
        answer="About 80 degrees [1].", answerer="extractive", verdict=verdict, reasons=[], timings_ms={},
        user_id=user.id, citations=[{"n": 1, "doc_id": "tea", "chunk_id": "c1", "title": "Tea", "source": "tea.txt",
                                     "score": 1.0, "similarity": 0.8, "cited": True}],
    )


def test_metrics_count_requests_chain_stages_and_what_the_database_holds(indexed):
    db = components.database(indexed)
    alice, bob = (accounts.add_user(db, identifier=name) for name in ("alice", "bob"))
    with TestClient(app.server.create_app(indexed)) as client:
        before = scrape(client.get("/metrics").text)
        assert value(before, "groundloop_active_ranker_info", version="fusion") == 1
        assert value(before, "groundloop_retrain_runs_total") == 0

        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/review/answers/some-id").status_code == 401
        runtime.chain().run("How hot should the water be for green tea?")  # as each entry point asks
        ok, flagged = record(db, alice, verdict="ok"), record(db, bob, verdict="flagged")
        opinions.record_thumb(db, answer_id=ok.id, user_id=alice.id, up=False)
        opinions.record_thumb(db, answer_id=ok.id, user_id=alice.id, up=True)  # replaces the first
        opinions.record_thumb(db, answer_id=flagged.id, user_id=bob.id, up=False, comment="Wrong.")
        opinions.record_source_mark(db, answer_id=flagged.id, user_id=bob.id, rank=1, relevant=False)
        opinions.record_correction(db, answer_id=flagged.id, user_id=bob.id, text="About 80 degrees.")
        ranker_versions.record_model_version(db, version="v1", path="rankers/v1", active=True,
                                     metrics={"held_out_ndcg@10": 0.71}, counts={})
        response = client.get("/metrics")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = scrape(response.text)
    requests = "groundloop_http_requests_total"
    assert value(after, requests, method="GET", route="/healthz", status="200") == \
        value(before, requests, method="GET", route="/healthz", status="200") + 1
    assert value(after, requests, method="GET", route="/review/answers/{answer_id}", status="401") == \
        value(before, requests, method="GET", route="/review/answers/{answer_id}", status="401") + 1
    assert value(after, "groundloop_http_request_duration_seconds_count", method="GET", route="/healthz") >= 1
    for stage in ("condense", "retrieve", "answer", "check"):
        count = "groundloop_chain_stage_seconds_count"
        assert value(after, count, stage=stage) == value(before, count, stage=stage) + 1, stage
    assert value(after, "groundloop_database_up") == 1
    assert value(after, "groundloop_answers", verdict="ok") == 1
    assert value(after, "groundloop_answers", verdict="flagged") == 1
    feedback = {kind: value(after, "groundloop_feedback", kind=kind) for kind in
                ("thumb_up", "thumb_down", "comment", "source_relevant", "source_not_relevant", "correction")}
    assert feedback == {"thumb_up": 1, "thumb_down": 1, "comment": 1, "source_relevant": 0,
                        "source_not_relevant": 1, "correction": 1}
    assert value(after, "groundloop_active_ranker_info", version="v1") == 1
    assert value(after, "groundloop_active_ranker_info", version="fusion") == 0
    assert value(after, "groundloop_active_ranker_held_out_ndcg_at_10") == 0.71
    assert value(after, "groundloop_retrain_runs_total") == 1


def test_a_serving_app_is_ready_once_every_part_answers(indexed):
    with TestClient(app.server.create_app(indexed)) as client:  # the lifespan warms the chain up
        response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "parts": {"database": "ok", "chroma": "ok", "model": "ok"}}


def test_readiness_names_the_part_that_is_down(settings, embeddings):
    """Nothing listens on the Chroma port; the database and the model are fine."""
    down = settings.model_copy(update={"chroma_url": f"http://127.0.0.1:{free_port()}"})
    client = TestClient(app.server.create_app(down))  # no lifespan: the chain could not warm up

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "not ready",
                               "parts": {"database": "ok", "chroma": "cannot be reached", "model": "ok"}}
    assert client.get("/healthz").status_code == 200  # alive, though not ready


def test_an_unreachable_database_is_reported_not_a_failed_scrape(settings, embeddings):
    down = settings.model_copy(update={"database_url": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"})
    client = TestClient(app.server.create_app(down))

    scraped = client.get("/metrics")
    ready = client.get("/readyz")

    assert scraped.status_code == 200
    assert value(scrape(scraped.text), "groundloop_database_up") == 0
    assert ready.status_code == 503
    # The chain cannot be built without its database, but Chroma's own state is still told.
    assert ready.json()["parts"] == {"database": "cannot be reached", "chroma": "ok", "model": "ok"}


def test_every_worker_reports_the_requests_of_all_of_them(tmp_path, monkeypatch):
    """Two servers on one data folder stand for two workers: requests answered by one show in a scrape
    of the other, because both count in the shared multiprocess folder."""
    from tests.e2e.conftest import Server

    environment = share_between_workers(tmp_path / "data" / "metrics")
    for name, folder in environment.items():
        monkeypatch.setenv(name, folder)
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    workers = [Server("worker-1", tmp_path / "data", tmp_path)]
    try:
        # One after the other: the first makes the local Chroma folder that the second then opens (two
        # processes creating one at the same moment race on its tables; real workers share a Chroma server).
        first = workers[0].wait_ready()
        workers.append(Server("worker-2", tmp_path / "data", tmp_path))
        second = workers[1].wait_ready()
        before = value(read_metrics(second.url), "groundloop_http_requests_total", **healthz)
        for _ in range(3):
            urllib.request.urlopen(first.url + "/healthz").read()
        seen_by_second, seen_by_first = (read_metrics(worker.url) for worker in (second, first))
    finally:
        for worker in workers:
            worker.stop()

    assert value(seen_by_second, "groundloop_http_requests_total", **healthz) == before + 3
    assert value(seen_by_first, "groundloop_http_requests_total", **healthz) == before + 3


def read_metrics(url: str) -> Samples:
    with urllib.request.urlopen(url + "/metrics") as response:
        return scrape(response.read().decode())
