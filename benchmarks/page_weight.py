"""Transferred bytes and time to interactive of every page of the built site, in headless Chromium.

Serves `_build/html` on 127.0.0.1 (run `make html` first), opens each page of the table of contents
(and the intro) in a fresh browser context with the cache off, and measures:

- transferred: the bytes Chromium received for the page and everything it loaded, from a server
  that gzips text (HTML, CSS, JavaScript, JSON, SVG) when the browser asks for it, as a static
  host such as GitHub Pages does; uncompressed: the same files as they lie on disk;
- interactive: from navigation start to the end of the last long task (> 50 ms, the page's
  scripts: the theme, MathJax typesetting, the explorer) before a 1-second window with none,
  or to DOMContentLoaded if that is later: the moment the page answers input without delay;
- load: the load event.

Each page is opened `--runs` times (default 3); the medians are printed as a Markdown table,
together with the load average, since a busy machine stretches the times.

    python benchmarks/page_weight.py [--runs 3]
"""

import argparse
import functools
import gzip
import os
import statistics
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
QUIET_MS = 1000  # a window this long without a long task ends the measurement
LONG_TASKS = """
window.__longTaskEnds = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTaskEnds.push(entry.startTime + entry.duration);
}).observe({ type: "longtask", buffered: true });
"""
TIMES = """() => {
  const [nav] = performance.getEntriesByType("navigation");
  const lastLongTask = Math.max(0, ...window.__longTaskEnds);
  return { dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, lastLongTask, now: performance.now() };
}"""


COMPRESSED_TYPES = {".html", ".css", ".js", ".json", ".svg", ".txt", ".xml", ".map"}  # text; fonts and PNGs are packed


@functools.cache
def gzipped(path: Path) -> bytes:
    return gzip.compress(path.read_bytes(), compresslevel=6)


class GzipHandler(SimpleHTTPRequestHandler):
    """Serves the site as a static host does: text gzip-compressed for browsers that accept it."""

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (accepts_gzip and path.is_file() and path.suffix in COMPRESSED_TYPES):
            return super().do_GET()
        body = gzipped(path)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def book_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries = toc.get("chapters", []) + [c for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return ["intro.html", *(f"{entry['file']}.html" for entry in entries)]


def measure(browser, origin: str, relative: str) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.add_init_script(LONG_TASKS)
    session = context.new_cdp_session(page)
    session.send("Network.enable")
    session.send("Network.setCacheDisabled", {"cacheDisabled": True})
    received, urls = {}, {}
    session.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
    session.on("Network.loadingFinished", lambda e: received.__setitem__(e["requestId"], e["encodedDataLength"]))
    page.goto(f"{origin}/{relative}", wait_until="load")
    while True:  # wait for a quiet second after the load event
        times = page.evaluate(TIMES)
        if times["now"] - max(times["load"], times["lastLongTask"]) >= QUIET_MS:
            break
        time.sleep(0.1)
    uncompressed = 0
    for request, address in urls.items():
        if request in received:
            path = SITE / unquote(urlparse(address).path).lstrip("/")
            uncompressed += path.stat().st_size if path.is_file() else received[request]
    context.close()
    off_site = [a for a in urls.values() if not a.startswith((origin, "data:", "blob:"))]
    assert not off_site, f"the page loads from another site: {off_site}"
    return {
        "transferred": sum(received.values()),
        "uncompressed": uncompressed,
        "requests": len(received),
        "interactive": max(times["dcl"], times["lastLongTask"]) / 1000,
        "load": times["load"] / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (SITE / "index.html").exists():
        sys.exit(f"no built site at {SITE}: run `make html` first")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(GzipHandler, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    executable = next((p for p in ("/usr/bin/chromium", "/usr/bin/google-chrome") if os.path.exists(p)), None)
    print(f"load average before: {os.getloadavg()[0]:.1f}; medians of {args.runs} runs, cache off\n")
    print("| page | transferred | uncompressed | requests | interactive | load |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--headless=new", "--no-sandbox"])
        for relative in book_pages():
            runs = [measure(browser, origin, relative) for _ in range(args.runs)]
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            print(
                f"| {relative} | {median['transferred'] / 1e6:.2f} MB | {median['uncompressed'] / 1e6:.2f} MB "
                f"| {median['requests']:.0f} | {median['interactive']:.2f} s | {median['load']:.2f} s |"
            )
        browser.close()
    server.shutdown()
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
