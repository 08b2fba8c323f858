"""The text generator in headless Chromium with every request cut off: the page's byte-level
tokenizer, forward pass with its key/value cache, and generation, compared with lib; and the
widget itself under a reader's hands (long, empty and hostile prompts, two generators, Stop).

How fast it runs is measured by benchmarks/browser_generate.py, not asserted here.
"""

import functools
import json
import random
import re

import numpy as np
import pytest
import torch

from lib.bpe import BytePairTokenizer
from lib.chat import ChatTokenizer
from lib.checkpoint import load_checkpoint
from lib.config import TransformerConfig
from lib.corpus import python_reference_text
from lib.decoding import generate
from lib.lora import merge_lora
from lib.model import DecoderOnlyTransformer
from lib.tuning import continue_left_padded, load_assistant
from lib.widget import TextGenerator
from lib.widget.generator import GENERATOR_ESM
from lib.widget.page import RUNTIME_KEY
from site_helpers import ROOT

CHECKPOINTS = ROOT / "chapters" / "checkpoints"

BOOK = f"window.transformerBook['{RUNTIME_KEY}']"
LOGIT_TOLERANCE = 1e-4  # largest allowed difference between the page's logits and PyTorch's
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)"> & </textarea>'


@functools.cache
def tokenizer() -> BytePairTokenizer:
    """The book's byte-level BPE (1024 tokens), the GPT chapter's."""
    return BytePairTokenizer.load(CHECKPOINTS / "gpt-bpe.json")


@functools.cache
def book_gpt() -> torch.nn.Module:
    """The GPT chapter's trained model (its weights are float16 numbers, run in float32)."""
    return load_checkpoint(CHECKPOINTS / "gpt.pt")[0].float()


def random_model(positional: str, norm_first: bool, seed: int, max_len: int = 48, tie: bool | None = False):
    config = TransformerConfig(
        vocab_size=tokenizer().vocab_size, d_model=32, num_heads=4, d_ff=48, num_decoder_layers=2, max_len=max_len,
        positional=positional, norm_first=norm_first, tie_embeddings=bool(tie),
    )  # fmt: skip
    torch.manual_seed(seed)
    model = DecoderOnlyTransformer(config)
    with torch.no_grad():  # sharper attention and logits than the initialization gives
        for name, parameter in model.named_parameters():
            if "in_proj.weight" in name or name.endswith("lookup.weight"):
                parameter.mul_(3)
        model.generator.bias[config.eos_id] = -100.0  # never <eos>, so every run has its full length
    return model.eval()


MODELS = {
    "the book's GPT": None,
    "learned, Pre-LN, tied": dict(positional="learned", norm_first=True, tie=True),
    "sinusoidal, Post-LN": dict(positional="sinusoidal", norm_first=False),
    "rotary, Pre-LN": dict(positional="rotary", norm_first=True),
    "no positions, Post-LN": dict(positional="none", norm_first=False),
}


def tokenizer_strings() -> list[str]:
    """Over 200 strings: emoji (with joiners, flags, skin tones), CJK, other scripts, combining marks,
    control characters, odd whitespace, digits, random code points, and slices of the corpus."""
    chosen = [
        "", " ", "  ", "\n", "\t\t", "\r\n", "a", "A", "0", "hello world", "Hello, World!", "  two  spaces  ",
        "trailing space ", " leading", "x\x00y", "\x01\x02\x03\x7f", "\x1b[31mred\x1b[0m", "bell\x07", "\x0b\x0c",
        "nbsp\xa0here", "line\u2028sep", "zero\u200bwidth", "bom\ufeffx", "emoji 😀", "😀😃😄", "👩‍👩‍👧‍👦 family",
        "🇫🇷🇯🇵 flags", "👍🏽 thumbs", "❤️ heart", "日本語のテキスト", "中文，标点。", "한국어 문장", "Ελληνικά κείμενα",
        "Русский текст", "עברית", "العربية", "हिन्दी", "ไทย", "e\u0301", "e\u0301\u0302\u0303", "Å vs A\u030a",
        "ﬁ ligature", "ＦＵＬＬ width", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "x² + y³", "3.14159", "1,000,000", "2026-12-02", "0x1F600",
        "def f(x):\n    return x ** 2\n", "if a != b: pass", "it's don't 'quoted'", '"double"', "a--b__c",
        "~!@#$%^&*()", "<b>bold</b>", HOSTILE, "tab\tafter", "mixed \t \n whitespace", "\n\n\nparagraphs", "end.\n",
        "…ellipsis",
    ]  # fmt: skip
    generator = random.Random(0)
    ranges = [(0x20, 0x7E), (0x00, 0x1F), (0xA0, 0x24F), (0x300, 0x36F), (0x3040, 0x30FF), (0x4E00, 0x9FFF),
              (0x1F300, 0x1FAFF), (0x10000, 0x10FFFF)]  # fmt: skip
    for _ in range(100):
        length = generator.randint(1, 24)
        characters = []
        for _ in range(length):
            low, high = generator.choice(ranges)
            code = generator.randint(low, high)
            characters.append(chr(code) if not 0xD800 <= code <= 0xDFFF else "?")
        chosen.append("".join(characters))
    corpus = python_reference_text()
    for _ in range(60):
        start = generator.randrange(len(corpus) - 400)
        chosen.append(corpus[start : start + generator.randint(1, 400)])
    return chosen


@pytest.fixture
def open_generators(browser):
    """Render widgets' HTML in a fresh offline context; returns (page, generator roots, problems seen)."""
    contexts = []

    def opener(html: str, count: int = 1):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        problems = []
        page.on("console", lambda message: message.type == "error" and problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("dialog", lambda dialog: (problems.append(f"dialog {dialog.message}"), dialog.dismiss()))
        page.route("**/*", lambda route: (problems.append(f"request {route.request.url}"), route.abort()))
        page.set_content(f"<!doctype html><html><body>{html}</body></html>")
        roots = page.locator(".text-generator[data-ready]")
        roots.nth(count - 1).wait_for()
        return page, roots, problems

    yield opener
    for context in contexts:
        context.close()


def generator_html(model, prompt: str = "", **settings) -> str:
    return TextGenerator.from_model(model, tokenizer(), prompt, **settings).static_html()


def run_and_wait(root, prompt: str | None = None, **fields) -> None:
    if prompt is not None:
        root.get_by_label("Prompt", exact=True).fill(prompt)
    for label, value in fields.items():
        root.get_by_label(label, exact=True).fill(str(value))
    root.evaluate("(el) => { el.runBefore = el.lastRun; }")
    root.get_by_role("button", name="Run").click()
    root.page.wait_for_function("(el) => !el.dataset.running", arg=root.element_handle(), timeout=30_000)
    assert root.evaluate("(el) => el.lastRun !== el.runBefore"), "the click on Run started no run"


def continuation(root) -> str:
    return root.locator(".gen-continuation").text_content()


def test_the_page_tokenizes_like_lib(open_generators):
    """Over 200 strings give lib/bpe.py's ids in the page, and the page decodes them back exactly."""
    strings = tokenizer_strings()
    assert len(strings) >= 200
    page, _, problems = open_generators(generator_html(random_model("learned", True, 0)))
    script = f"""(strings) => {{
        const tokenizer = new {BOOK}.BytePairTokenizer({json.dumps(tokenizer().to_dict())});
        return strings.map((text) => {{ const ids = tokenizer.encode(text); return [ids, tokenizer.decode(ids)]; }});
    }}"""
    results = page.evaluate(script, strings)
    merged = 0
    for text, (ids, decoded) in zip(strings, results, strict=True):
        assert ids == tokenizer().encode(text), f"different ids for {text!r}"
        assert decoded == text
        merged += len(ids) < len(text.encode())
    assert merged > 80  # the corpus slices and the words use merges, not only single bytes
    assert problems == []


PAGE_RUNS = """async (el, [prompts, steps]) => {
    const transformer = await el.ready();
    return prompts.map((ids) => {
        const generation = new BOOK.Generation(transformer, ids, { temperature: 0 });
        generation.start();
        const logits = [Array.from(generation.logits)];
        for (let i = 0; i < steps; i++) {
            generation.next();
            logits.push(Array.from(generation.logits));
        }
        const { perLayer } = generation.windowAttention();
        return { generated: generation.generated, logits, attention: perLayer.map((values) => Array.from(values)) };
    });
}""".replace("BOOK", BOOK)


@pytest.mark.parametrize("name", list(MODELS))
def test_logits_greedy_tokens_and_attention_equal_pytorchs(open_generators, name):
    """50 prompts for the book's GPT, 13 for each random model: the page's logits after the prompt and
    after each of 10 greedy steps (read through the key/value cache) are PyTorch's within
    LOGIT_TOLERANCE, its tokens are lib.decoding.generate's, its attention forward_with_attention's."""
    options = MODELS[name]
    if options is None:
        model, count = book_gpt(), 50
    else:
        model, count = random_model(options["positional"], options["norm_first"], len(name), tie=options.get("tie")), 13
    _, roots, problems = open_generators(generator_html(model))
    corpus = python_reference_text()
    generator = random.Random(len(name))
    texts = ["a", "😀", " the", "日本語"] + [
        corpus[s : s + generator.randint(5, 60)]
        for s in (generator.randrange(len(corpus) - 100) for _ in range(count - 4))
    ]
    prompts = [tokenizer().encode(text)[:20] for text in texts]
    steps = 10
    page_runs = roots.first.evaluate(PAGE_RUNS, [prompts, steps])
    worst = 0.0
    for prompt, run in zip(prompts, page_runs, strict=True):
        expected = generate(model, torch.tensor([prompt]), steps)[0].tolist()
        assert prompt + run["generated"] == expected
        with torch.no_grad():
            logits, maps = model.forward_with_attention(torch.tensor([expected]))
        for i, page_logits in enumerate(run["logits"]):
            reference = logits[0, len(prompt) - 1 + i].numpy()
            worst = max(worst, float(np.abs(np.array(page_logits) - reference).max()))
        for layer, values in enumerate(run["attention"]):
            np.testing.assert_allclose(np.array(values), maps.decoder_self[layer][0].numpy().ravel(), atol=1e-5)
    assert worst <= LOGIT_TOLERANCE, f"{name}: logits differ by {worst:.1e}"
    print(f"{name}: {len(prompts)} prompts x {steps + 1} positions, largest logit difference {worst:.1e}")
    assert problems == []


def test_sampling_is_reproducible_and_greedy_at_top_k_1(open_generators):
    model = random_model("learned", True, 3)
    _, roots, problems = open_generators(generator_html(model, "The list", length=40))
    root = roots.first
    texts = {}
    for seed in (1, 2, 1):
        run_and_wait(root, Temperature=1.5, Seed=seed)
        texts.setdefault(seed, []).append(continuation(root))
    assert texts[1][0] == texts[1][1] and texts[1][0] != texts[2][0]
    run_and_wait(root, Temperature=0)
    greedy = continuation(root)
    prompt = tokenizer().encode("The list")
    assert greedy == tokenizer().decode(generate(model, torch.tensor([prompt]), 40)[0, len(prompt) :])
    run_and_wait(root, Temperature=2, **{"Top-k": 1})
    assert continuation(root) == greedy
    run_and_wait(root, Temperature=2, **{"Top-k": 0, "Top-p": 0})
    assert continuation(root) == greedy  # the smallest set holding 0 % of the probability: the best token alone
    run_and_wait(root, Temperature=2, **{"Top-k": 0, "Top-p": 0.5})
    assert continuation(root) not in (greedy, texts[1][0])
    assert problems == []


def test_long_empty_and_hostile_prompts_two_generators_and_stop(open_generators):
    """Two generators on one page, window of 32 tokens: a 10,000-character paste, an empty prompt,
    hostile markup (shown as text, never run), text that outgrows the window, and Stop."""
    html = generator_html(random_model("learned", True, 4, max_len=32), length=60)
    html += generator_html(random_model("rotary", False, 5, max_len=32), length=60)
    page, roots, problems = open_generators(html, count=2)
    first, second = roots.nth(0), roots.nth(1)
    paste = (python_reference_text()[:9_990] + " 😀 日本語")[:10_000]
    run_and_wait(first, paste)
    assert "it reads only the last 32" in first.locator(".gen-note").text_content()
    assert "outgrew the context window of 32 tokens" in first.locator(".gen-note").text_content()
    assert first.evaluate("(el) => el.lastRun.tokens") == 60
    run_and_wait(second, "")
    assert "The prompt is empty: the model starts from a new line." in second.locator(".gen-note").text_content()
    assert continuation(second) != ""
    run_and_wait(first, HOSTILE)
    shown = first.locator(".gen-prompt-text").text_content()  # over 32 tokens: "…" and the last 32, as text
    assert first.locator(".gen-cut").is_visible() and HOSTILE.endswith(shown) and "onerror" in shown
    assert page.locator("script:not([type]):not([data-transformer-book])").count() == 2  # the two widgets' own
    assert page.locator(".gen-output img, .gen-output script").count() == 0
    both_then_stop = """async ([first, second]) => {
        for (const el of [first, second]) {
            el.querySelector('input[aria-label="Tokens"]').value = "1000";
            el.querySelector(".gen-run").click();
        }
        while (!(first.lastRun.tokens > 5)) await new Promise((resolve) => setTimeout(resolve));
        first.querySelector(".gen-stop").click();
    }"""  # a small model writes 1000 tokens in about a second: Run both and Stop the first from inside the page
    page.evaluate(both_then_stop, [first.element_handle(), second.element_handle()])
    page.wait_for_function("(el) => !el.dataset.running", arg=second.element_handle(), timeout=60_000)
    assert "Stopped." in first.locator(".gen-note").text_content()
    assert first.evaluate("(el) => el.lastRun.tokens") < 1000 and not first.get_attribute("data-running")
    assert second.evaluate("(el) => el.lastRun.tokens") == 1000
    assert first.locator(".attention-explorer[data-ready] .attn-x-queries .attn-x-token").count() > 1
    assert problems == []


def test_in_jupyter_the_same_module_runs_the_kernels_model(open_generators):
    """The ES module anywidget loads, with the weights sent by the kernel in the widget's state."""
    model = random_model("sinusoidal", True, 6)
    widget = TextGenerator.from_model(model, tokenizer(), "if x", temperature=0, length=20)
    state = {"prompt": widget.prompt, "settings": widget.settings, "hint": widget.hint}
    kernel_answer = {"type": "spec", "spec": widget.spec}  # what widget._answer sends when the page asks
    assert "</script>" not in GENERATOR_ESM
    html = f"""<div id="root"></div><script id="esm" type="text/plain">{GENERATOR_ESM}</script>
    <script type="module">
      const source = document.getElementById("esm").textContent;
      const module = await import(URL.createObjectURL(new Blob([source], {{ type: "text/javascript" }})));
      const state = {json.dumps(state)};
      const listeners = new Set();
      window.asked = [];
      const model = {{
        get: (name) => state[name], set() {{}}, save_changes() {{}},
        on: (event, callback) => event === "msg:custom" && listeners.add(callback),
        off: (event, callback) => listeners.delete(callback),
        send: (content) => {{
          window.asked.push(content);
          setTimeout(() => listeners.forEach((callback) => callback({json.dumps(kernel_answer)})));
        }},
      }};
      module.default.render({{ model, el: document.getElementById("root") }});
    </script>"""
    page, roots, problems = open_generators(html)
    run_and_wait(roots.first)
    assert page.evaluate("window.asked") == [{"type": "spec"}]
    expected = generate(model, torch.tensor([tokenizer().encode("if x")]), 20)[0].tolist()
    assert continuation(roots.first) == tokenizer().decode(expected[len(tokenizer().encode("if x")) :])
    assert problems == []


def test_the_gpt_chapter_writes_offline(open_page):
    """The GPT chapter's page (built from its stored output) carries the book's GPT and continues a
    prompt in the page, offline, as lib does."""
    page, watcher = open_page("chapters/gpt.html")
    root = page.locator(".text-generator[data-ready]").first
    root.wait_for()
    run_and_wait(root, "The function returns", Temperature=0, Tokens=30)
    prompt = tokenizer().encode("The function returns")
    expected = generate(book_gpt(), torch.tensor([prompt]), 30)[0, len(prompt) :]
    assert continuation(root) == tokenizer().decode(expected)
    sizes = page.eval_on_selector_all(
        "script[type='application/octet-stream'], script.transformer-book-model",
        "(all) => all.map((e) => e.textContent.length)",
    )
    assert sum(sizes) <= 2_000_000  # the model adds at most 2 MB to the page
    assert watcher.console_errors == [] and watcher.offsite_requests == []


def test_the_capstone_writes_python_offline(open_page):
    """The capstone's page carries the model trained on Python's standard library, with its own
    tokenizer, and writes code in the page, offline, as lib does."""
    page, watcher = open_page("chapters/write_a_gpt.html")
    root = page.locator(".text-generator[data-ready]").first
    root.wait_for()
    run_and_wait(root, "def", Temperature=0, Tokens=30)
    code_tokenizer = BytePairTokenizer.load(CHECKPOINTS / "code-bpe.json")
    model = load_checkpoint(CHECKPOINTS / "code-gpt-long.pt")[0].float()
    prompt = code_tokenizer.encode("def")
    expected = generate(model, torch.tensor([prompt]), 30)[0, len(prompt) :]
    assert continuation(root) == code_tokenizer.decode(expected)
    sizes = page.eval_on_selector_all(
        "script[type='application/octet-stream'], script.transformer-book-model",
        "(all) => all.map((e) => e.textContent.length)",
    )
    float16_bytes = 2 * sum(p.numel() for p in model.parameters())  # 1.9 MB (tests/test_pretraining.py: <= 2 MB)
    assert sum(sizes) <= 1.1 * float16_bytes  # deflated base85 text: at most 10 % over the weights themselves
    assert watcher.console_errors == [] and watcher.offsite_requests == []


def test_the_assistant_answers_in_the_page_as_lib_does(open_page):
    """The post-training chapter's page carries the tuned model (adapters merged, float16) and the chat
    tokenizer: the page wraps the question in the template and stops at <|end|>, as lib does."""
    page, watcher = open_page("chapters/post_training.html")
    root = page.locator(".text-generator[data-ready]").first
    root.wait_for()
    chat = ChatTokenizer(BytePairTokenizer.load(CHECKPOINTS / "code-bpe.json"))
    model = merge_lora(load_assistant(CHECKPOINTS, "dpo-nll", 0)).half().float()
    for question in ("Sort the list [7, 2, 9, 4].", "What is 31 + 45?", "Write 'random' in capital letters."):
        run_and_wait(root, question, Temperature=0, Tokens=20)
        written = continue_left_padded(model, [chat.encode_turn(question)[0]], 20)[0]
        assert continuation(root) == chat.answer_text(written), question
        if chat.end_id in written:
            assert "ended its answer" in root.locator(".gen-note").text_content()
    assert 2 * sum(p.numel() for p in model.parameters()) <= 2_000_000  # the page's model budget
    root.get_by_label("Prompt", exact=True).fill("Add 1 and 2. " * 60)
    root.get_by_role("button", name="Run").click()
    page.wait_for_function("(el) => !el.dataset.running", arg=root.element_handle(), timeout=30_000)
    assert "reads at most 253" in root.locator(".attn-x-error").first.text_content()
    assert watcher.console_errors == [] and watcher.offsite_requests == []


def focused(page) -> str:
    """What has the keyboard focus: its class or tag and its accessible label, if any."""
    return page.evaluate(
        """() => { const e = document.activeElement;
                   return `${e.className || e.tagName.toLowerCase()}${e.ariaLabel ? ":" + e.ariaLabel : ""}`; }"""
    )


def outline_px(page) -> float:
    """The width of the focus outline drawn around the focused element (0 if none)."""
    return page.evaluate(
        """() => { const style = getComputedStyle(document.activeElement);
                   return style.outlineStyle === "none" ? 0 : parseFloat(style.outlineWidth); }"""
    )


def wait_until_done(root) -> None:
    root.page.wait_for_function("(el) => !el.dataset.running", arg=root.element_handle(), timeout=30_000)


def test_the_keyboard_alone_runs_stops_and_keeps_its_place(open_generators):
    """Tab into the prompt, Enter adds a line, Ctrl+Enter and Cmd+Enter run; on Run, Enter moves the
    focus to Stop and back when the run ends, Space on Stop stops and gives it back to Run, Esc stops;
    the focus is drawn and never falls to the page."""
    page, roots, problems = open_generators(generator_html(book_gpt(), length=20))  # 1000 tokens: seconds
    root = roots.first
    page.keyboard.press("Tab")
    assert focused(page) == "gen-prompt:Prompt" and outline_px(page) >= 2
    page.keyboard.type("The list")
    page.keyboard.press("Enter")
    assert root.get_by_label("Prompt", exact=True).input_value() == "The list\n"
    assert root.evaluate("(el) => el.lastRun") is None and not root.get_attribute("data-running")
    for chord in ("Control+Enter", "Meta+Enter"):
        page.keyboard.press(chord)
        wait_until_done(root)
        assert root.evaluate("(el) => el.lastRun.tokens") == 20
        assert focused(page) == "gen-prompt:Prompt"  # the reader goes on typing
    assert root.get_by_label("Prompt", exact=True).input_value() == "The list\n"  # no line added by the chord
    for label in ("Temperature", "Top-k", "Top-p", "Seed", "Tokens"):
        page.keyboard.press("Tab")
        assert focused(page) == f"input:{label}" and outline_px(page) >= 2
    page.keyboard.press("Control+A")
    page.keyboard.type("1000")  # long enough to stop it midway
    page.keyboard.press("Tab")
    assert focused(page) == "gen-run" and outline_px(page) >= 2
    page.keyboard.press("Enter")
    assert focused(page) == "gen-stop" and outline_px(page) >= 2 and root.get_attribute("data-running")
    page.wait_for_function("(el) => el.lastRun.tokens > 0", arg=root.element_handle())
    page.keyboard.press("Space")
    assert focused(page) == "gen-run" and not root.get_attribute("data-running")
    assert root.locator(".gen-note").text_content().endswith("Stopped.")
    assert root.evaluate("(el) => el.lastRun.tokens") < 1000
    root.get_by_label("Tokens", exact=True).fill("30")
    root.locator(".gen-run").focus()
    page.keyboard.press("Enter")
    assert focused(page) == "gen-stop"
    wait_until_done(root)
    assert focused(page) == "gen-run" and root.evaluate("(el) => el.lastRun.tokens") == 30  # ended by itself
    page.keyboard.press("Tab")  # Stop is disabled: the next stop is the explorer's first control
    assert focused(page) == "select:Attention"
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "gen-run"
    root.get_by_label("Tokens", exact=True).fill("1000")
    root.get_by_label("Prompt", exact=True).focus()
    page.keyboard.press("Control+Enter")
    page.wait_for_function("(el) => el.lastRun.tokens > 0", arg=root.element_handle())
    page.keyboard.press("Escape")
    assert not root.get_attribute("data-running") and focused(page) == "gen-prompt:Prompt"
    assert root.locator(".gen-note").text_content().endswith("Stopped.")
    assert problems == []


def field_note(root, label: str) -> str:
    return root.get_by_label(label, exact=True).evaluate(
        "(input) => document.getElementById(input.getAttribute('aria-describedby')).textContent"
    )


def test_every_setting_outside_its_range_is_replaced_by_the_value_used(open_generators):
    """Each field at and beyond both ends of its range: a value outside it is replaced in the field by
    the one used, with a message beside the field; the ends themselves stand. Then the runs show
    that what the field says is what the model did, and the note counts tokens in the right words."""
    model = random_model("learned", True, 8)
    page, roots, problems = open_generators(generator_html(model, "The list", length=5))
    root = roots.first
    root.evaluate("(el) => el.ready().then(() => true)")  # the vocabulary's size is Top-k's most
    vocabulary = str(tokenizer().vocab_size)
    cases = [  # label, typed, shown, message under the fields (after the label)
        ("Tokens", "5000", "1000", "5000 is above 1000, the most."),
        ("Tokens", "1000", "1000", ""),
        ("Tokens", "0", "1", "0 is below 1, the least."),
        ("Tokens", "1", "1", ""),
        ("Tokens", "2.5", "3", "Whole numbers only: 3."),
        ("Tokens", "", "5", "Empty or not a number: 5, the starting value."),
        ("Temperature", "99", "5", "99 is above 5, the most."),
        ("Temperature", "5", "5", ""),
        ("Temperature", "-1", "0", "-1 is below 0, the least."),
        ("Temperature", "0", "0", ""),
        ("Top-p", "7", "1", "7 is above 1, the most."),
        ("Top-p", "1", "1", ""),
        ("Top-p", "-0.5", "0", "-0.5 is below 0, the least."),
        ("Top-p", "0", "0", ""),
        ("Top-k", "5000", vocabulary, f"5000 is above {vocabulary}, the most."),
        ("Top-k", vocabulary, vocabulary, ""),
        ("Top-k", "-3", "0", "-3 is below 0, the least."),
        ("Seed", "3000000000", "2147483647", "3000000000 is above 2147483647, the most."),
        ("Seed", "-5", "0", "-5 is below 0, the least."),
        ("Seed", "1.5", "2", "Whole numbers only: 2."),
    ]
    for label, typed, shown, message in cases:
        field = root.get_by_label(label, exact=True)
        field.fill(typed)
        field.press("Tab")  # the field is left: it shows the value the model will use
        expected = (shown, f"{label}: {message}" if message else "")
        assert (field.input_value(), field_note(root, label)) == expected, f"{label} {typed!r}"
        if message:
            field.fill(shown)  # editing the field again clears the message
            assert field_note(root, label) == ""
    prompt = tokenizer().encode("The list")
    greedy = tokenizer().decode(generate(model, torch.tensor([prompt]), 12)[0, len(prompt) :])
    for fields in ({"Temperature": 0}, {"Temperature": -1}, {"Temperature": 2, "Top-k": 0, "Top-p": -0.5}):
        run_and_wait(root, Tokens=12, **fields)
        assert continuation(root) == greedy, fields  # all greedy: the likeliest token each time
    run_and_wait(root, Temperature=99, Seed=4, **{"Top-k": 5000, "Top-p": 7})
    hottest = continuation(root)
    run_and_wait(root, Temperature=5, Seed=4, **{"Top-k": vocabulary, "Top-p": 1})
    assert continuation(root) == hottest != greedy
    for typed, used in (("0", 1), ("1", 1), ("2", 2), ("5000", 1000)):
        run_and_wait(root, Tokens=typed)
        assert root.evaluate("(el) => el.lastRun.tokens") == used
        words = rf"(^|\. ){used} new token{'s' if used != 1 else ''}[ .]"
        assert re.search(words, root.locator(".gen-note").text_content()), typed
    assert "1 new tokens" not in root.locator(".gen-note").text_content()
    assert problems == []


def model_reads(ids: list[int], window: int) -> list[int]:
    """The tokens the model reads of a prompt: its last `window`, from the first that starts a character."""
    first = max(0, len(ids) - window)
    while 0 < first < len(ids) - 1 and tokenizer().token_bytes(ids[first])[0] & 0xC0 == 0x80:
        first += 1
    return ids[first:]


def test_a_cut_prompt_is_shown_from_a_whole_character_as_the_model_reads_it(open_generators):
    """5,000 characters of accents, CJK and emoji, cut at different places, with windows where the
    last 32, 48 or 128 tokens would start inside a character's bytes: the page shows the text from a
    whole character, marks the cut and says it, and shows exactly the decoding of what the model reads."""
    base = "naïve café — 東京 🚀"
    html = generator_html(random_model("learned", True, 9, max_len=32), length=3)
    html += generator_html(random_model("rotary", True, 10, max_len=48), length=3)
    html += generator_html(book_gpt(), length=3)
    page, roots, problems = open_generators(html, count=3)
    started_inside = 0
    for index, window in enumerate((32, 48, 128)):
        root = roots.nth(index)
        for cut in range(1, 6):
            text = (base * 400)[: 5000 - cut]
            ids = tokenizer().encode(text)
            started_inside += tokenizer().token_bytes(ids[-window])[0] & 0xC0 == 0x80
            read = model_reads(ids, window)
            run_and_wait(root, text)
            shown = root.locator(".gen-prompt-text").text_content()
            assert root.evaluate("(el) => el.lastRun.read") == read
            assert shown == tokenizer().decode(read) and text.endswith(shown) and "\ufffd" not in shown
            assert root.locator(".gen-cut").is_visible() and root.locator(".gen-cut").text_content() == "…"
            assert f"The prompt is cut: it has {len(ids)} tokens" in root.locator(".gen-note").text_content()
            assert f"it reads only the last {len(read)}" in root.locator(".gen-note").text_content()
        run_and_wait(root, "short")
        assert root.locator(".gen-cut").is_hidden() and root.locator(".gen-prompt-text").text_content() == "short"
    assert started_inside >= 5  # the test meets the case it is about
    assert problems == []
