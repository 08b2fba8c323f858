"""Benchmark: how long the attention explorer takes to redraw, in headless Chromium.

Run with `python benchmarks/explorer_redraw.py`. Two measurements:

1. Switching views on a large input: the weights of 256 tokens x 6 layers x 8 heads (the size
   the explorer is designed for) are embedded in a page; it switches head and layer several
   times and prints each redraw's time next to the goal of 100 ms.
2. Re-running the model on typed input: the attention chapter's explorer (the shipped reverse
   model, which the page carries) runs 10 different inputs of 32 letters in the page's own
   JavaScript (greedy decoding included) and redraws; goal < 50 ms each.

On a busy machine wall-clock times grow with the load, so the script also prints the CPU time
the page's renderer process spent per re-run, which the load does not inflate as much.
"""

import os
import shutil
import statistics
from pathlib import Path

import psutil
import torch
from playwright.sync_api import sync_playwright

from lib.checkpoint import load_checkpoint
from lib.tasks import task_vocabulary
from lib.widget import AttentionExplorer, static_html
from lib.widget.payload import make_payload

CHECKPOINT = Path(__file__).resolve().parent.parent / "chapters" / "checkpoints" / "reverse.pt"
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
MODEL_RUNS = """async (el, inputs) => {
    const model = await el.browserModel();
    await el.runInBrowser(inputs[0]);  // warm-up: the first run also compiles the code
    return inputs.slice(1).map((text) => {
        const start = performance.now();
        model.run(text);
        return performance.now() - start;
    });
}"""
REDRAWS = """async (el, inputs) => {
    const times = [];
    for (const text of inputs.slice(1)) {
        const start = performance.now();
        await el.runInBrowser(text);  // runs the model again and redraws every view
        times.push(performance.now() - start);
    }
    return times;
}"""


def open_page(browser, html: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", lambda route: route.abort())  # nothing leaves the page
    page.set_content(f"<!doctype html><html><body>{html}</body></html>")
    root = page.locator(".attention-explorer[data-ready]").first
    root.wait_for()
    return page, root


def renderer_cpu_seconds() -> float:
    """CPU time (user + system) of the Chromium renderer processes this script started."""
    total = 0.0
    for process in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if any(arg == "--type=renderer" for arg in process.cmdline()):
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(6, 8, 256, 256) * 2, dim=-1)
    tokens = [f"t{i}" for i in range(256)]
    large = static_html(make_payload({"encoder_self": (weights, tokens, tokens)}))

    model, _ = load_checkpoint(CHECKPOINT)
    vocabulary = task_vocabulary("reverse", 10)
    explorer = AttentionExplorer.from_model(model, "abcdefgh", vocabulary, max_length=16, start=("cross", 1, 3))
    chapter = explorer._repr_mimebundle_()[0]["text/html"]
    without_model = static_html(explorer.payload)
    letters = vocabulary.tokens[4:]
    generator = torch.Generator().manual_seed(0)
    inputs = ["".join(letters[i] for i in torch.randint(0, 10, (32,), generator=generator)) for _ in range(11)]

    executable = shutil.which("chromium") or shutil.which("google-chrome") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--headless=new", "--no-sandbox"])
        page, _ = open_page(browser, large)
        times = page.evaluate(SWITCHES)
        page, root = open_page(browser, chapter)
        runs = root.evaluate(MODEL_RUNS, inputs)
        cpu_before = renderer_cpu_seconds()
        redraws = root.evaluate(REDRAWS, inputs)
        cpu = (renderer_cpu_seconds() - cpu_before) / len(redraws)
        keys = root.locator(".attn-x-keys .attn-x-token").count()
        browser.close()
    print(f"explorer, 256 tokens x 6 layers x 8 heads, page payload {len(large.encode()) / 1e6:.2f} MB")
    print(f"  head/layer switches: median {statistics.median(times[:10]):.1f} ms, max {max(times[:10]):.1f} ms")
    print(f"  mean of heads: {times[10]:.1f} ms; grid of 8 heads: {times[11]:.1f} ms   (goal: < 100 ms each)")
    added = len(chapter.encode()) - len(without_model.encode())
    print(f"the attention chapter's explorer with its model: the model adds {added / 1e6:.2f} MB (goal: <= 1 MB)")
    print(f"  re-run on 32 letters ({len(redraws)} inputs, greedy output up to 16 tokens, {keys} keys shown):")
    print(f"  model alone: median {statistics.median(runs):.1f} ms, max {max(runs):.1f} ms")
    print(f"  model + redraw: median {statistics.median(redraws):.1f} ms, max {max(redraws):.1f} ms   (goal: < 50 ms)")
    print(f"  model + redraw, CPU time of the page's renderer process: {cpu * 1000:.1f} ms per re-run")
    print(f"  (load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
