"""The API's documentation page, in the browser, with nothing but this server to load from."""

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, foreign


def test_the_api_docs_page_shows_the_routes_offline(page: Page, server: Server, requests_seen: list[str]):
    page.goto(server.url + "/docs")

    expect(page.get_by_text("/api/v1/ask", exact=True).first).to_be_visible()
    assert foreign(requests_seen) == []
