"""With a model configured, its words reach the browser as the model writes them: the answer grows on screen."""

import shutil
import time

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import _RUNNING, Chat, Server
from tests.openai_stub import OpenAIStub

REPLY = "The White Nile and the Blue Nile meet at Khartoum, the capital of Sudan [1]."
TOKEN_DELAY = 0.3  # seconds between the model's words: about 4 s for the whole reply


@pytest.fixture(scope="module")
def writing_llm():
    with OpenAIStub() as stub:
        stub.token_delay = TOKEN_DELAY
        stub.reply_with(lambda _: REPLY)
        yield stub


@pytest.fixture(scope="module")
def writing_server(e2e_dir, data_dir, writing_llm):
    data = e2e_dir / "data-writing"
    shutil.copytree(data_dir, data)
    server = Server("writing-llm", data, e2e_dir, llm_base_url=writing_llm.base_url, llm_model="stub-model",
                    llm_timeout="30")
    _RUNNING.append(server)
    try:
        yield server.wait_ready()
    finally:
        server.stop()
        _RUNNING.remove(server)


def test_the_models_words_appear_as_it_writes_them(page: Page, writing_server: Server) -> None:
    chat = Chat(page, writing_server).open()
    chat.record_answer_texts()
    started = time.monotonic()
    answer = chat.ask("Where does the Blue Nile meet the White Nile?", timeout=60)
    took = time.monotonic() - started
    final = answer.locator(".message-content").inner_text().strip()
    assert "meet at Khartoum, the capital of Sudan" in final
    words = len(REPLY.split())
    assert took >= words * TOKEN_DELAY * 0.9  # the model really did write slowly
    growing = [text.strip() for text in chat.answer_texts() if text.strip() and "Khartoum" not in text]
    partial = [text for text in growing if "The White" in text]
    assert len(set(partial)) >= 3, f"the answer did not grow on screen: {chat.answer_texts()}"
    lengths = [len(text) for text in partial]
    assert lengths == sorted(lengths), partial
