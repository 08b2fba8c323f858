"""Benchmark: how long the attention explorer takes to redraw on a large input, in headless Chromium.

Run with `python benchmarks/explorer_redraw.py`. It embeds the weights of 256 tokens x 6 layers
x 8 heads (the size the explorer is designed for) in a page, switches head and layer several
times, and prints each redraw's time in milliseconds next to the goal of 100 ms.
"""

import shutil
import statistics

import torch
from playwright.sync_api import sync_playwright

from lib.widget import static_html
from lib.widget.payload import make_payload

SWITCHES = """() => {
    const selects = document.querySelectorAll(".attention-explorer select");
    const time = (select, value) => {
        const start = performance.now();
        select.value = value;
        select.dispatchEvent(new Event("change"));
        return performance.now() - start;
    };
    const times = [];
    for (let round = 0; round < 5; round++) {
        times.push(time(selects[2], String(1 + (round % 8))));   // head
        times.push(time(selects[1], String(1 + (round % 6))));   // layer
    }
    times.push(time(selects[2], "mean"));
    times.push(time(selects[2], "grid"));
    return times;
}"""


def main() -> None:
    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(6, 8, 256, 256) * 2, dim=-1)
    tokens = [f"t{i}" for i in range(256)]
    html = static_html(make_payload({"encoder_self": (weights, tokens, tokens)}))
    executable = shutil.which("chromium") or shutil.which("google-chrome") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--headless=new", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_content(f"<!doctype html><html><body>{html}</body></html>")
        page.locator(".attention-explorer[data-ready]").wait_for()
        times = page.evaluate(SWITCHES)
        browser.close()
    print(f"explorer, 256 tokens x 6 layers x 8 heads, page payload {len(html.encode()) / 1e6:.2f} MB")
    print(f"  head/layer switches: median {statistics.median(times[:10]):.1f} ms, max {max(times[:10]):.1f} ms")
    print(f"  mean of heads: {times[10]:.1f} ms; grid of 8 heads: {times[11]:.1f} ms   (goal: < 100 ms each)")


if __name__ == "__main__":
    main()
