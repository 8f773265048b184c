"""/docs and /redoc render the API in a real browser with no network beyond loopback.

Headless Chromium (Debian's, driven by Playwright) opens each page of a live service. Every
request to a host other than the service is aborted and recorded, and names outside loopback do
not resolve, as on an intranet whose proxy blocks CDNs. The pages must fetch nothing from
elsewhere, load /openapi.json and render the operations, not only return HTML.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, Request, Route, async_playwright, expect

pytestmark = pytest.mark.browser

# The pages are opened under an intranet-like name (Swagger UI behaves differently on
# localhost), which Chromium's own resolver maps to loopback; every other name fails to resolve.
HOST = "docs.brandcast.test"
LOOPBACK = {"127.0.0.1", "localhost", HOST}
RESOLVER_RULES = f"MAP {HOST} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"


@dataclass
class Traffic:
    blocked: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def unexpected_console_errors(self) -> list[str]:
        # what the page's Content-Security-Policy kept from being requested (ReDoc's Redocly
        # logo) is expected; any other error (an asset missing, a script failing) is not
        return [
            line
            for line in self.console
            if line.startswith("error:") and "Content Security Policy" not in line
        ]


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(
                executable_path=chromium_path,
                headless=True,
                args=[f"--host-resolver-rules={RESOLVER_RULES}", "--disable-gpu"],
                timeout=60_000,
            )
        except Exception as exc:  # a browser that cannot start fails the test, never skips it
            raise AssertionError(f"Chromium at {chromium_path} did not start: {exc}") from exc
        try:
            yield launched
        finally:
            await launched.close()


async def offline_page(browser: Browser) -> tuple[Page, Traffic]:
    """A page whose requests outside loopback are aborted (and recorded)."""
    context = await browser.new_context(service_workers="block")
    traffic = Traffic()

    async def only_loopback(route: Route, request: Request) -> None:
        host = urlsplit(request.url).hostname or ""
        if request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            traffic.fetched.append(urlsplit(request.url).path)
            await route.continue_()
        else:
            traffic.blocked.append(request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_loopback)
    page = await context.new_page()
    page.on("pageerror", lambda exc: traffic.errors.append(str(exc)))
    page.on("console", lambda msg: traffic.console.append(f"{msg.type}: {msg.text}"))
    return page, traffic


def intranet_url(live_service: str, path: str) -> str:
    return live_service.replace("127.0.0.1", HOST) + path


def operations(live_service: str) -> list[tuple[str, str, str]]:
    """(tag, operationId, summary) of every documented operation, from the served document."""
    document = httpx.get(f"{live_service}/openapi.json", timeout=10).raise_for_status().json()
    return [
        (op["tags"][0], op["operationId"], op["summary"])
        for item in document["paths"].values()
        for method, op in item.items()
        if method in {"get", "head", "post", "put", "patch", "delete"}
    ]


async def test_swagger_ui_renders_every_operation_offline(browser: Browser, live_service: str):
    documented = operations(live_service)
    page, traffic = await offline_page(browser)

    response = await page.goto(intranet_url(live_service, "/docs"), wait_until="load")
    assert response is not None and response.status == 200
    assert traffic.blocked == [], f"/docs loads from outside: {traffic.blocked}"

    tag, operation_id, summary = next(op for op in documented if op[1] == "listMessages")
    block = page.locator(f"#operations-{tag}-{operation_id}")
    await expect(block).to_be_visible(timeout=30_000)
    await expect(block.locator(".opblock-summary-description")).to_have_text(summary)
    # every operation of the document is rendered as a block (tags are expanded by default)
    await expect(page.locator(".opblock")).to_have_count(len(documented))

    assert traffic.blocked == [], f"/docs tried to load from outside: {traffic.blocked}"
    assert "/openapi.json" in traffic.fetched
    assert traffic.errors == [], f"script errors: {traffic.errors}; console: {traffic.console}"
    assert traffic.unexpected_console_errors() == []


async def test_redoc_renders_the_operations_offline(browser: Browser, live_service: str):
    documented = operations(live_service)
    page, traffic = await offline_page(browser)

    response = await page.goto(intranet_url(live_service, "/redoc"), wait_until="load")
    assert response is not None and response.status == 200
    assert traffic.blocked == [], f"/redoc loads from outside: {traffic.blocked}"

    tag, operation_id, summary = next(op for op in documented if op[1] == "listMessages")
    section = page.locator(f'[id="tag/{tag}/operation/{operation_id}"]')
    await expect(section).to_be_attached(timeout=30_000)
    heading = section.locator("h2").first
    await expect(heading).to_be_visible()
    await expect(heading).to_contain_text(summary)
    # the side menu lists every operation
    await expect(page.locator('li[data-item-id*="/operation/"]')).to_have_count(len(documented))

    assert traffic.blocked == [], f"/redoc tried to load from outside: {traffic.blocked}"
    assert "/openapi.json" in traffic.fetched
    assert traffic.errors == [], f"script errors: {traffic.errors}; console: {traffic.console}"
    assert traffic.unexpected_console_errors() == []
