"""Serve the built site on 127.0.0.1 and drive Debian's Chromium with Playwright, offline."""

import functools
import shutil
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import sync_playwright

from site_helpers import SITE

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site_url():
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built site at {SITE}: run `make html` first")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(SITE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def playwright():
    """One Playwright for the whole session: a second sync_playwright() in the same thread fails."""
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright):
    executable = shutil.which("chromium") or shutil.which("google-chrome") or "/usr/bin/chromium"
    browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def offline_browser(playwright):
    """Chromium that cannot reach anything but this machine, without intercepting a request.

    Every request goes to a proxy address where nothing listens, except loopback ones, which
    Chromium never sends through a proxy: requests that leave the machine fail inside the browser
    (the test still sees them as `request` events), and the rest run at normal speed.
    """
    executable = shutil.which("chromium") or shutil.which("google-chrome") or "/usr/bin/chromium"
    browser = playwright.chromium.launch(
        executable_path=executable, args=[*CHROMIUM_FLAGS, "--proxy-server=http://127.0.0.1:9"]
    )
    yield browser
    browser.close()


class PageWatcher:
    """Records what went wrong while a page loaded; cuts off every request that leaves the site."""

    def __init__(self, page, origin: str):
        self.origin = origin
        self.console_errors, self.failed_requests, self.offsite_requests = [], [], []
        self.in_flight, self.last_activity = set(), time.monotonic()
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_done)
        page.on("requestfailed", self._on_failed)
        page.on("response", lambda r: r.status >= 400 and self.failed_requests.append(f"{r.status} {r.url}"))
        page.route("**/*", self._route)

    def _on_request(self, request):
        self.in_flight.add(request)
        self.last_activity = time.monotonic()

    def _on_done(self, request):
        self.in_flight.discard(request)
        self.last_activity = time.monotonic()

    def wait_until_quiet(self, page, quiet_s: float = 0.5, timeout_s: float = 120) -> None:
        """Wait until no request has been in flight for quiet_s; fail naming the ones that hang.

        Playwright's own "networkidle" is a browser signal that once, on CI's loaded machine, never
        came for a page that had loaded in 6 s, and its timeout said nothing of why; the page's own
        request events say exactly what is still pending.
        """
        deadline = time.monotonic() + timeout_s
        while self.in_flight or time.monotonic() - self.last_activity < quiet_s:
            if time.monotonic() > deadline:
                pending = sorted(request.url for request in self.in_flight)
                pytest.fail(f"requests still in flight after {timeout_s} s: {pending}")
            page.wait_for_timeout(100)  # lets Playwright deliver the page's events meanwhile

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.origin) or url.startswith("data:") or url.startswith("blob:"):
            route.continue_()
        else:
            self.offsite_requests.append(url)
            route.abort()

    def _on_failed(self, request):
        self._on_done(request)
        if request.url.startswith(self.origin):
            self.failed_requests.append(f"{request.failure} {request.url}")


@pytest.fixture
def open_page(browser, site_url):
    """Open a page of the site in a fresh offline context; returns (page, watcher)."""
    contexts = []

    def opener(relative: str, viewport=(1280, 900)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        page = context.new_page()
        watcher = PageWatcher(page, site_url)
        # A page that carries a model holds about 2 MB of weights as text; on a machine busy with other
        # tests its load can take longer than Playwright's default 30 s. How fast pages load is measured
        # by benchmarks/page_weight.py, not here.
        page.goto(f"{site_url}/{relative}", wait_until="load", timeout=120_000)
        watcher.wait_until_quiet(page)
        # MathJax typesets after the load and moves what is below each formula: a test that points
        # at an element before it has finished can land on its neighbour.
        page.evaluate("() => window.MathJax?.startup?.promise")
        return page, watcher

    yield opener
    for context in contexts:
        context.close()


@pytest.fixture
def open_offline_html(browser):
    """Render an HTML string in a fresh context with every request cut off, and wait for the explorer.

    Returns (page, the explorer's root element, the messages of any dialogs it opened).
    """
    contexts = []

    def opener(html: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.route("**/*", lambda route: route.abort())  # nothing may be fetched
        page.set_content(html if html.startswith("<!doctype") else f"<!doctype html><html><body>{html}</body></html>")
        root = page.locator(".attention-explorer[data-ready]").first
        root.wait_for()
        return page, root, dialogs

    yield opener
    for context in contexts:
        context.close()
