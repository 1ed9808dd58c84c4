"""Browser tests: Playwright driving Debian's Chromium against a real stack.

The stack (gunicorn + ``worker.py`` + the session's redis-server, filesystem
storage, a local page server for the word counter) starts once per test
module and stops with it, so no idle stack outlives the browser tests.
Chromium is ``/usr/bin/chromium`` (``scripts/bootstrap.sh chromium`` installs
it; Playwright never downloads a browser), headless, with a fresh profile
and its background networking switched off. Every page's console errors,
page errors and CSP violations fail the test; a failed test leaves a
screenshot in ``test-output/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
import requests

from tests.support.pageserver import PageServer
from tests.support.processes import ROOT
from tests.support.stack import LiveStack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-output"
MAX_UPLOAD = 8 * 1024 * 1024
# The policy the app sends; the tests add it themselves only if the app does not.
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Report CSP violations on the console, where the page fixture collects them.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item, so fixtures can see a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def page_server() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def stack(
    redis_server: str, page_server: PageServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    """The running service, on its own Redis database (other tests flush database 0)."""
    settings = {
        "IMGSVC_REDIS_URL": redis_server.rsplit("/", 1)[0] + "/3",
        "IMGSVC_FETCH_ALLOWLIST": page_server.allow_entry,
        "IMGSVC_MAX_CONTENT_LENGTH": str(MAX_UPLOAD),
    }
    from redis import Redis

    Redis.from_url(settings["IMGSVC_REDIS_URL"]).flushdb()
    live = LiveStack(tmp_path_factory.mktemp("browser-stack"), settings).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser(stack: LiveStack):
    if shutil.which(CHROMIUM) is None:
        pytest.fail("chromium is not installed: run the suite with `make test`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives every run a fresh, temporary profile.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class Console:
    """Console errors and page errors of one page; ``allow`` expected ones."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console() -> Console:
    return Console()


def _add_csp_when_missing(context, stack: LiveStack) -> None:
    if "Content-Security-Policy" in requests.get(f"{stack.url}/", timeout=10).headers:
        return

    def with_csp(route) -> None:
        if not route.request.is_navigation_request():
            route.continue_()
            return
        response = route.fetch(max_redirects=0)
        headers = {**response.headers, "content-security-policy": CSP}
        route.fulfill(response=response, headers=headers)

    context.route(re.compile(r".*"), with_csp)


@pytest.fixture
def context(browser, stack: LiveStack, request: pytest.FixtureRequest):
    viewport = getattr(request, "param", None) or {"width": 1280, "height": 900}
    context = browser.new_context(
        base_url=stack.url,
        viewport=viewport,
        permissions=["clipboard-read", "clipboard-write"],
    )
    context.set_default_timeout(15_000)
    context.add_init_script(REPORT_VIOLATIONS)
    _add_csp_when_missing(context, stack)
    yield context
    context.close()


@pytest.fixture
def page(context, console: Console, request: pytest.FixtureRequest):
    """A page whose console must stay clean; screenshot to test-output/ on failure."""
    page = context.new_page()
    page.on("console", lambda msg: msg.type == "error" and console.errors.append(msg.text))
    page.on("pageerror", lambda exc: console.errors.append(f"page error: {exc}"))
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    elif report is not None and report.passed:
        assert not console.unexpected(), f"console errors: {console.unexpected()}"


@pytest.fixture
def done_image(stack: LiveStack) -> dict:
    """A finished upload (6 variants), made through the API."""
    from tests import factories

    image_id = stack.upload(factories.jpeg(2400, 1600, seed=7))["id"]
    body = stack.wait_final(image_id)
    assert body["status"] == "done", body
    return body
