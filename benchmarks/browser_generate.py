"""Benchmark: the book's GPT writing in headless Chromium, next to PyTorch in this process.

Run with `python benchmarks/browser_generate.py`. The GPT chapter's model (chapters/checkpoints/
gpt.pt) and its tokenizer are embedded in a page as the site embeds them (TextGenerator), and
the page is driven as a reader drives it: a 64-token prompt, Run, 64 new tokens (greedy, so
every run does the same work), five times. It prints, against the goals of issue #22:

- the bytes the model adds to the page (weights + tokenizer + settings; goal <= 2 MB);
- the time from Run to the first new token on the page (goal <= 100 ms);
- new tokens per second while generating, the text and the attention view kept up to date
  (goal >= 100), next to lib.decoding.generate with the key/value cache in this process (1 thread);
- the longest task the page ran while generating (PerformanceObserver "longtask"; goal: none
  over 200 ms), and the time the page took to load the model and compile its code.

Wall-clock times grow with the machine's load (printed at the end); compare the ratio to
PyTorch, measured alongside, rather than the absolute numbers.
"""

import os
import re
import shutil
import statistics
import time
from pathlib import Path

import psutil
import torch
from playwright.sync_api import sync_playwright

from lib.bpe import BytePairTokenizer
from lib.checkpoint import load_checkpoint
from lib.corpus import python_reference_text
from lib.decoding import generate
from lib.widget import TextGenerator
from lib.widget.page import RUNTIME_KEY

CHECKPOINTS = Path(__file__).resolve().parent.parent / "chapters" / "checkpoints"
PROMPT_TOKENS = 64
NEW_TOKENS = 64  # with the prompt, the whole context window of 128 (PyTorch's generate stops there)
RUNS = 5
ONE_RUN = """async (el) => {
    const longTasks = [];
    const observer = new PerformanceObserver((list) => longTasks.push(...list.getEntries().map((e) => e.duration)));
    observer.observe({ type: "longtask" });
    el.querySelector(".gen-run").click();
    while (el.dataset.running) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 50));  // let the observer report the last tasks
    observer.disconnect();
    return { ...el.lastRun, longest: longTasks.length ? Math.max(...longTasks) : 0 };
}"""
FIRST_TOKEN_ALONE = """async (el, [ids, book]) => {
    const transformer = await el.ready();
    const generation = new window.transformerBook[book].Generation(transformer, ids, { temperature: 0 });
    generation.start();
    generation.next();
}"""  # the work between Run and the first token, without the page's drawing: for the CPU time


def prompt_of_length(tokenizer: BytePairTokenizer, count: int) -> str:
    """English text from the corpus cut to exactly `count` tokens."""
    ids = tokenizer.encode(re.sub(r"\s+", " ", python_reference_text()[:5000]))
    prompt = tokenizer.decode(ids[:count])
    assert len(tokenizer.encode(prompt)) == count
    return prompt


def renderer_cpu_seconds() -> float:
    """CPU time (user + system) of the Chromium renderer processes this script started."""
    total = 0.0
    for process in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if "--type=renderer" in process.cmdline():
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def pytorch_tokens_per_second(model, ids: list[int]) -> tuple[float, float]:
    """(first token ms, new tokens per second) of lib.decoding.generate with the cache, median of RUNS."""
    torch.set_num_threads(1)
    prompt = torch.tensor([ids])
    firsts, rates = [], []
    for _ in range(RUNS):
        start = time.perf_counter()
        generate(model, prompt, 1)
        firsts.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        generate(model, prompt, NEW_TOKENS)
        rates.append(NEW_TOKENS / (time.perf_counter() - start))
    return statistics.median(firsts), statistics.median(rates)


def main() -> None:
    tokenizer = BytePairTokenizer.load(CHECKPOINTS / "gpt-bpe.json")
    model = load_checkpoint(CHECKPOINTS / "gpt.pt")[0].float()
    prompt = prompt_of_length(tokenizer, PROMPT_TOKENS)
    widget = TextGenerator.from_model(model, tokenizer, prompt, temperature=0, length=NEW_TOKENS)
    html = widget.static_html()
    model_bytes = sum(
        len(block.encode())
        for block in re.findall(r'<script type="application/(?:octet-stream|json)" [^>]*>.*?</script>', html, re.S)
        if "transformer-book-state" not in block
    )
    executable = shutil.which("chromium") or shutil.which("google-chrome") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--headless=new", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", lambda route: route.abort())  # nothing leaves the page
        start = time.perf_counter()
        page.set_content(f"<!doctype html><html><body>{html}</body></html>")
        root = page.locator(".text-generator[data-ready]")
        root.wait_for()
        root.evaluate("(el) => el.ready()")
        load_seconds = time.perf_counter() - start
        runs = [root.evaluate(ONE_RUN) for _ in range(RUNS)]
        cpu_firsts = []
        for _ in range(RUNS):
            before = renderer_cpu_seconds()
            root.evaluate(FIRST_TOKEN_ALONE, [tokenizer.encode(prompt), RUNTIME_KEY])
            cpu_firsts.append((renderer_cpu_seconds() - before) * 1000)
        browser.close()
    torch_first, torch_rate = pytorch_tokens_per_second(model, tokenizer.encode(prompt))
    firsts = [run["firstTokenMs"] for run in runs]
    rates = [run["tokens"] / run["seconds"] for run in runs]
    longest = max(run["longest"] for run in runs)
    print(f"the book's GPT in the page ({sum(p.numel() for p in model.parameters()):,} parameters, float16 exact)")
    print(f"  the model adds {model_bytes / 1e6:.3f} MB to the page (goal <= 2 MB)")
    print(f"  loading the model and compiling its code: {load_seconds:.2f} s after the page opens")
    print(f"  {PROMPT_TOKENS}-token prompt, {NEW_TOKENS} new tokens, greedy, {RUNS} runs:")
    print(
        f"  first token after Run: median {statistics.median(firsts):.0f} ms, worst {max(firsts):.0f} ms "
        f"(goal <= 100 ms); PyTorch: {torch_first:.0f} ms"
    )
    print(
        f"  the same work alone (prompt read, first token picked), CPU time of the page's renderer: "
        f"median {statistics.median(cpu_firsts):.0f} ms (less inflated by the load than wall-clock time)"
    )
    print(
        f"  new tokens per second: median {statistics.median(rates):.0f}, worst {min(rates):.0f} (goal >= 100); "
        f"PyTorch (1 thread, key/value cache): {torch_rate:.0f}, "
        f"page / PyTorch = {statistics.median(rates) / torch_rate:.2f}"
    )
    print(f"  longest task while generating: {longest:.0f} ms (goal: none over 200 ms; 0 = none over 50 ms)")
    print(f"  (load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
