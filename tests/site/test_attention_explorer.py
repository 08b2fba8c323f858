"""The attention explorer on the built site, offline: controls, hover values, keyboard, and the
model that runs in the page, compared with PyTorch."""

import functools
import json
import random
import re

import numpy as np
import pytest
import torch

from lib.checkpoint import load_checkpoint
from lib.config import TransformerConfig
from lib.model import DecoderOnlyTransformer, EncoderOnlyTransformer, Transformer
from lib.tasks import task_vocabulary
from lib.tokenizers import SPECIAL_TOKENS, Vocabulary, WordTokenizer
from lib.widget import AttentionExplorer, static_html
from lib.widget.explorer import (
    ESM_SOURCE,
    check_input,
    excerpt,
    length_warning,
    model_attention,
    model_payload,
    run_error,
    trained_lengths,
)
from lib.widget.page import RUNTIME_KEY
from lib.widget.payload import decode_kind, decode_model, make_payload
from site_helpers import ROOT, SCREENSHOTS, screenshot

CHAPTER = "chapters/attention.html"
CHECKPOINTS = ROOT / "chapters" / "checkpoints"
TOLERANCE = 1e-3  # largest allowed difference between the page's attention weights and PyTorch's
RUN_IN_PAGE = """async (el, inputs) => {
    const model = await el.browserModel();
    return inputs.map((text) => {
        const run = model.run(text);
        const kinds = {};
        for (const [name, kind] of Object.entries(run.kinds)) {
            kinds[name] = { rows: kind.rows, cols: kind.cols, values: Array.from(kind.values) };
        }
        return { title: run.title, output: run.output === undefined ? null : run.output, kinds };
    });
}"""
TOKENIZERS = {"characters": list, "words": WordTokenizer.split}


def explorer_html(model, text, vocabulary, **options) -> str:
    return AttentionExplorer.from_model(model, text, vocabulary, **options)._repr_mimebundle_()[0]["text/html"]


def embedded_models(text: str) -> list[dict]:
    """Every model an explorer in this HTML (or notebook JSON) carries for the browser."""
    if text.lstrip().startswith("{"):  # a notebook: look at its stored HTML outputs
        cells = json.loads(text)["cells"]
        html = "".join(
            "".join(output.get("data", {}).get("text/html", "")) for cell in cells for output in cell.get("outputs", [])
        )
    else:
        html = text
    weights = dict(
        re.findall(r'<script type="application/octet-stream" data-transformer-book="([^"]+)">(.*?)</script>', html)
    )
    models = [json.loads(block) for block in re.findall(r'class="transformer-book-model">(.*?)</script>', html, re.S)]
    return [{**spec, "weights": {key: weights[key] for _, _, key in spec["tensors"]}} for spec in models]


def checkpoint_of(spec: dict) -> str | None:
    """The shipped checkpoint whose weights the embedded model carries (exactly), if any."""
    weights = decode_model(spec)
    first_name, _, _ = spec["tensors"][0]
    for path in sorted(CHECKPOINTS.glob("*.pt")):
        saved = torch.load(path, weights_only=True, map_location="cpu")
        if "state_dict" not in saved:
            continue  # LoRA adapters alone (the post-training chapter): not a whole model
        first = saved["state_dict"].get(first_name)
        if first is None or first.shape != weights[first_name].shape:
            continue  # a quick look before rebuilding the model
        if not np.array_equal(first.float().numpy(), weights[first_name]):
            continue
        state = load_checkpoint(path)[0].state_dict()
        if set(state) == set(weights) and all(np.array_equal(state[k].float().numpy(), weights[k]) for k in state):
            return path.name
    return None


def shown_checkpoints() -> dict[str, dict]:
    """Checkpoints the chapters show in an explorer, found in the stored notebook outputs, with the
    explorer's settings; the attention chapter's reverse model is listed even before its page carries it."""
    shown = {
        "reverse.pt": {
            "source_tokens": task_vocabulary("reverse", 10).tokens,
            "tokenize": "characters",
            "max_length": 16,
        }
    }
    for notebook in sorted((ROOT / "chapters").glob("*.ipynb")):
        for spec in embedded_models(notebook.read_text()):
            if spec["tokenize"] not in TOKENIZERS:
                continue  # the text generator's model: tests/site/test_generator.py runs it
            name = checkpoint_of(spec)
            if name is not None:
                shown[name] = spec
    return shown


SHOWN = shown_checkpoints()


def random_inputs(vocabulary: Vocabulary, max_len: int, count: int, seed: int, joiner: str) -> list[str]:
    """`count` random valid inputs: 1 to max_len symbols of the vocabulary (no special tokens)."""
    generator = torch.Generator().manual_seed(seed)
    symbols = [t for t in vocabulary.tokens if t not in SPECIAL_TOKENS]
    inputs = []
    for _ in range(count):
        length = int(torch.randint(1, max_len + 1, (1,), generator=generator))
        picks = torch.randint(0, len(symbols), (length,), generator=generator).tolist()
        inputs.append(joiner.join(symbols[i] for i in picks))
    return inputs


def assert_page_runs_like_pytorch(root, model, vocabulary, tokenize, max_length, inputs) -> float:
    """The page's model and lib's model on the same inputs: the same output tokens and rows and
    columns, attention weights within TOLERANCE. Returns the largest difference seen."""
    page_runs = root.evaluate(RUN_IN_PAGE, inputs)
    worst = 0.0
    for text, page_run in zip(inputs, page_runs, strict=True):
        kinds, title, output = model_attention(model, text, vocabulary, None, tokenize, max_length)
        assert page_run["output"] == output, f"different greedy output on {text!r}"
        assert page_run["title"] == title
        assert set(page_run["kinds"]) == set(kinds)
        for name, (weights, rows, cols) in kinds.items():
            shown = page_run["kinds"][name]
            assert (shown["rows"], shown["cols"]) == (list(rows), list(cols))
            difference = np.abs(np.array(shown["values"]) - weights.numpy().ravel()).max()
            assert difference <= TOLERANCE, f"{name} on {text!r} differs by {difference:.2e}"
            worst = max(worst, float(difference))
    return worst


@pytest.fixture
def explorer(open_page):
    page, watcher = open_page(CHAPTER)
    root = page.locator(".attention-explorer[data-ready]").first
    root.wait_for()
    yield page, root
    assert watcher.console_errors == [] and watcher.offsite_requests == []


def embedded_payload(page) -> dict:
    return json.loads(page.locator(".transformer-book-state").first.text_content())["payload"]


def hover(token) -> None:
    """Hover a token scrolled to the middle of the screen. Left to itself, Playwright scrolls it to
    just inside the bottom edge, where the pointer has landed on another token once an edit to
    the chapter above the explorer moved the page."""
    token.evaluate("element => element.scrollIntoView({block: 'center'})")
    token.hover()


def shown_values(root) -> list[float]:
    return [float(v) for v in root.locator(".attn-x-keys .attn-x-value").all_text_contents()]


def test_embedded_weights_are_the_trained_models(explorer):
    page, _ = explorer
    model, _ = load_checkpoint(CHECKPOINTS / "reverse.pt")
    expected = model_payload(model, "abcdefgh", task_vocabulary("reverse", 10), None, list, 16)
    embedded = embedded_payload(page)
    for kind, entry in expected["kinds"].items():
        assert embedded["kinds"][kind]["rows"] == entry["rows"]
        np.testing.assert_allclose(decode_kind(embedded["kinds"][kind]), decode_kind(entry), atol=1 / 255)


def test_the_published_page_runs_the_model_on_typed_input(explorer):
    """The chapter's page carries the shipped reverse model and runs it on what the reader types
    (re-execute chapters/attention.ipynb if this fails: the page is made from its stored output)."""
    page, root = explorer
    (spec,) = embedded_models(page.content())
    assert checkpoint_of(spec) == "reverse.pt"
    run_in_page(root, "abcdefghij")
    model, _ = load_checkpoint(CHECKPOINTS / "reverse.pt")
    kinds, title, _ = model_attention(model, "abcdefghij", task_vocabulary("reverse", 10), None, list, 16)
    assert root.locator(".attn-x-result").text_content() == title
    assert query_tokens(root) == kinds[root.get_attribute("data-kind")][1]
    assert root.locator(".attn-x-error").text_content() == ""


def test_switching_layer_and_head_shows_the_right_weights_on_hover(explorer):
    page, root = explorer
    weights = decode_kind(embedded_payload(page)["kinds"]["cross"])  # (layers, heads, rows, cols)
    root.get_by_label("Attention", exact=True).select_option(value="cross")
    seen = []
    for layer, head in [(1, 2), (0, 0), (1, 0)]:
        root.get_by_label("Layer", exact=True).select_option(value=str(layer + 1))
        root.get_by_label("Head", exact=True).select_option(value=str(head + 1))
        hover(root.locator(".attn-x-queries .attn-x-token").nth(3))
        expected = [round(float(w), 2) for w in weights[layer, head, 3]]
        assert shown_values(root) == pytest.approx(expected, abs=0.0051)
        assert root.get_attribute("data-layer") == str(layer) and root.get_attribute("data-head") == str(head)
        assert f"layer {layer + 1}, head {head + 1}" in root.locator(".attn-x-status").text_content()
        seen.append(shown_values(root))
    assert seen[0] != seen[1] and seen[1] != seen[2]
    screenshot(page.locator(".attention-explorer").first, "explorer-cross-hover")


def test_mean_and_grid_views(explorer):
    page, root = explorer
    weights = decode_kind(embedded_payload(page)["kinds"]["cross"])
    root.get_by_label("Attention", exact=True).select_option(value="cross")
    root.get_by_label("Layer", exact=True).select_option(value="2")
    root.get_by_label("Head", exact=True).select_option(value="mean")
    hover(root.locator(".attn-x-queries .attn-x-token").nth(0))
    assert shown_values(root) == pytest.approx([round(float(w), 2) for w in weights[1, :, 0].mean(0)], abs=0.0051)
    root.get_by_label("Head", exact=True).select_option(value="grid")
    assert root.locator(".attn-x-grid canvas").count() == 4
    screenshot(page.locator(".attention-explorer").first, "explorer-grid")


def test_keyboard_focus_works_like_hover(explorer):
    page, root = explorer
    first_query = root.locator(".attn-x-queries .attn-x-token").first
    first_query.focus()
    assert "query 1" in root.locator(".attn-x-status").text_content()
    assert all(v != "" for v in root.locator(".attn-x-keys .attn-x-value").all_text_contents())
    page.keyboard.press("Tab")
    assert "query 2" in root.locator(".attn-x-status").text_content()


def test_large_explorer_fits_and_switches_correctly(open_offline_html):
    """256 tokens x 6 layers x 8 heads: under 2 MB, and switching shows the right weights.

    How fast it redraws is measured by benchmarks/explorer_redraw.py, not asserted here.
    """
    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(6, 8, 256, 256) * 2, dim=-1)
    tokens = [f"<tok{i}>" for i in range(256)]
    payload = make_payload({"encoder_self": (weights, tokens, tokens)})
    html = static_html(payload)
    assert len(html.encode()) <= 2_000_000
    page, root, _ = open_offline_html(html)
    expected = decode_kind(payload["kinds"]["encoder_self"])
    for layer, head in [(5, 7), (2, 3)]:
        root.get_by_label("Layer", exact=True).select_option(value=str(layer + 1))
        root.get_by_label("Head", exact=True).select_option(value=str(head + 1))
        root.locator(".attn-x-queries .attn-x-token").nth(100).focus()
        shown = shown_values(root)
        assert len(shown) == 256
        assert shown == pytest.approx([round(float(w), 2) for w in expected[layer, head, 100]], abs=0.0051)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "explorer-256-tokens.png"))


def test_tokens_are_shown_as_text(open_offline_html):
    evil = "<img src=x onerror=alert(1)>"
    payload = make_payload({"encoder_self": (torch.full((1, 1, 2, 2), 0.5), [evil, "b"], [evil, "b"])})
    _, root, dialogs = open_offline_html(static_html(payload))
    assert root.locator("img").count() == 0
    assert re.sub(r"\s+", " ", root.locator(".attn-x-queries").text_content()).startswith(evil)
    assert dialogs == []


def live_mode_page(first: dict) -> str:
    """A page that loads the ES module as anywidget does, with a stand-in for the widget model:
    `window.sent` records what it sends to the kernel, `window.kernelReplies(payload, error)`
    answers, `window.cleanup()` is what render returned (anywidget calls it when the view goes)."""
    assert "</script>" not in ESM_SOURCE  # so the module can sit inside a <script> element as is
    return f"""<!doctype html><html><body><div id="root"></div>
    <script id="esm" type="text/plain">{ESM_SOURCE}</script>
    <script type="module">
      const source = document.getElementById("esm").textContent;
      const url = URL.createObjectURL(new Blob([source], {{ type: "text/javascript" }}));
      const module = await import(url);
      const state = {{ payload: {json.dumps(first)}, live: true, text: "abc", error: "" }};
      const listeners = {{}};
      window.sent = [];
      const model = {{
        get: (name) => state[name],
        set: (name, value) => {{ state[name] = value; window.sent.push([name, value]); }},
        save_changes: () => window.sent.push(["save"]),
        on: (event, callback) => {{ (listeners[event] ||= new Set()).add(callback); }},
        off: (event, callback) => {{ listeners[event].delete(callback); }},
      }};
      window.listenerCount = () => Object.values(listeners).reduce((n, set) => n + set.size, 0);
      window.kernelReplies = (payload, error) => {{
        state.payload = payload; state.error = error;
        for (const name of ["change:payload", "change:error"]) (listeners[name] || []).forEach((f) => f());
      }};
      window.kernelFails = (error) => {{  // a bad input: the kernel keeps its payload and sets the error
        state.error = error;
        (listeners["change:error"] || []).forEach((f) => f());
      }};
      window.cleanup = module.default.render({{ model, el: document.getElementById("root") }});
    </script></body></html>"""


def test_live_mode_module_sends_text_and_redraws_on_new_weights(open_offline_html):
    """The ES module anywidget loads in Jupyter, driven by a stand-in for the widget model."""
    first = make_payload({"encoder_self": (torch.full((1, 2, 3, 3), 1 / 3), list("abc"), list("abc"))})
    second = make_payload({"encoder_self": (torch.full((1, 2, 4, 4), 1 / 4), list("wxyz"), list("wxyz"))})
    page, root, _ = open_offline_html(live_mode_page(first))
    text_box = root.get_by_label("Input", exact=True)
    assert text_box.input_value() == "abc"
    text_box.fill("wxyz")
    root.get_by_role("button", name="Run").click()
    assert page.evaluate("window.sent") == [["text", "wxyz"], ["save"]]
    page.evaluate(f"window.kernelReplies({json.dumps(second)}, 'shown after a new run')")
    page.wait_for_function("document.querySelectorAll('.attn-x-queries .attn-x-token').length === 4")
    assert root.locator(".attn-x-queries").text_content().replace(" ", "") == "wxyz"
    assert root.locator(".attn-x-error").text_content() == "shown after a new run"
    warned = {**second, "warning": "The model was trained on inputs of 1–3 symbols; this one has 4."}
    page.evaluate(f"window.kernelReplies({json.dumps(warned)}, '')")
    page.wait_for_function("document.querySelector('.attn-x-warning').textContent !== ''")
    page.evaluate("window.kernelFails('Could not run the model on “ABCD”: “A” is not in the model\\'s vocabulary')")
    assert root.locator(".attn-x-error").text_content().startswith("Could not run the model on “ABCD”")
    assert root.locator(".attn-x-warning").text_content() == ""  # the warning was about the last good input


def test_an_older_payload_decoded_after_a_newer_one_is_dropped_and_listeners_are_removed(open_offline_html):
    first = make_payload({"encoder_self": (torch.full((1, 1, 3, 3), 1 / 3), list("abc"), list("abc"))})
    torch.manual_seed(0)
    big = torch.softmax(torch.randn(4, 8, 128, 128) * 2, dim=-1)  # slower to inflate than the newer one
    older = make_payload({"encoder_self": (big, [f"t{i}" for i in range(128)], [f"t{i}" for i in range(128)])})
    newer = make_payload({"encoder_self": (torch.full((1, 1, 2, 2), 0.5), list("yz"), list("yz"))})
    page, root, _ = open_offline_html(live_mode_page(first))
    page.evaluate(f"window.kernelReplies({json.dumps(older)}, ''); window.kernelReplies({json.dumps(newer)}, '')")
    page.wait_for_function("document.querySelectorAll('.attn-x-queries .attn-x-token').length === 2")
    page.wait_for_timeout(300)  # long enough for the older payload to finish inflating
    assert query_tokens(root) == ["y", "z"]
    assert page.evaluate("window.listenerCount()") == 2
    page.evaluate("window.cleanup()")
    assert page.evaluate("window.listenerCount()") == 0


@pytest.mark.parametrize("checkpoint", sorted(SHOWN))
def test_shipped_model_runs_in_the_page_as_in_pytorch(open_offline_html, checkpoint):
    """50 random valid inputs per checkpoint a chapter shows in an explorer: the page's JavaScript
    decodes the same tokens as lib's greedy_decode and computes the same attention weights."""
    settings = SHOWN[checkpoint]
    model, _ = load_checkpoint(CHECKPOINTS / checkpoint)
    vocabulary = Vocabulary(settings["source_tokens"])
    tokenize = TOKENIZERS[settings["tokenize"]]
    joiner = " " if settings["tokenize"] == "words" else ""
    first = joiner.join(t for t in vocabulary.tokens[len(SPECIAL_TOKENS) :][:4])
    html = explorer_html(model, first, vocabulary, tokenize=tokenize, max_length=settings["max_length"])
    (model_block,) = re.findall(r'<script type="application/json" class="transformer-book-model">.*?</script>', html)
    weight_blocks = re.findall(r'<script type="application/octet-stream" data-transformer-book=.*?</script>', html)
    size = len(model_block.encode()) + sum(len(block.encode()) for block in weight_blocks)
    assert size <= 1_000_000  # the budget: the model adds at most 1 MB to a page
    _, root, _ = open_offline_html(html)
    inputs = random_inputs(vocabulary, model.config.max_len, 50, seed=0, joiner=joiner)
    worst = assert_page_runs_like_pytorch(root, model, vocabulary, tokenize, settings["max_length"], inputs)
    print(f"{checkpoint}: 50 inputs, largest attention difference {worst:.1e}")


def small_models() -> list[tuple[str, torch.nn.Module]]:
    """Random small models: every positional scheme, both LayerNorm placements, all three shapes."""
    models = []
    for index, positional in enumerate(("sinusoidal", "learned", "rotary", "none")):
        for norm_first in (False, True):
            config = TransformerConfig(
                vocab_size=10, d_model=16, num_heads=2, d_ff=24, num_encoder_layers=2, num_decoder_layers=2,
                max_len=9, positional=positional, norm_first=norm_first,
            )  # fmt: skip
            torch.manual_seed(10 * index + norm_first)
            models.append((f"{positional}, {'Pre' if norm_first else 'Post'}-LN", Transformer(config)))
    config = TransformerConfig(
        vocab_size=10, d_model=16, num_heads=2, d_ff=24, max_len=9, pad_id=4, bos_id=5, eos_id=6, tie_embeddings=True
    )  # padding is the letter a: inputs with it are masked, all-a inputs fully; the output layer is tied
    models.append(("other special ids, tied output layer", Transformer(config)))
    config = TransformerConfig(vocab_size=10, d_model=16, num_heads=2, d_ff=24, max_len=9, positional="rotary")
    models.append(("decoder-only, rotary, Post-LN", DecoderOnlyTransformer(config)))
    config = TransformerConfig(vocab_size=10, d_model=16, num_heads=4, d_ff=24, max_len=9, norm_first=True)
    models.append(("encoder-only, sinusoidal, Pre-LN", EncoderOnlyTransformer(config)))
    generator = torch.Generator().manual_seed(1)
    for _, model in models:
        with torch.no_grad():  # sharper attention, and outputs that sometimes stop (<eos>) or emit <pad>
            for name, parameter in model.named_parameters():
                if "in_proj.weight" in name:
                    parameter.mul_(3)
                if name.endswith(("generator.bias", "head.bias")):
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 2)
        model.eval()
    return models


def test_every_positional_scheme_and_norm_placement_runs_as_in_pytorch(open_offline_html):
    """Eleven small random models in one page, 12 random inputs each (up to the positional table's length), and
    inputs that are all padding for the model whose padding id is a letter."""
    vocabulary = task_vocabulary("reverse", num_symbols=6)
    models = small_models()
    html = "".join(explorer_html(model, "abc", vocabulary, max_length=8) for _, model in models)
    page, _, _ = open_offline_html(html)
    roots = page.locator(".attention-explorer")
    outputs = set()
    for index, (_, model) in enumerate(models):
        inputs = random_inputs(vocabulary, model.config.max_len, 12, seed=index, joiner="") + ["a", "aaa"]
        root = roots.nth(index)
        assert_page_runs_like_pytorch(root, model, vocabulary, list, 8, inputs)
        if isinstance(model, Transformer):
            outputs.update(len(model_attention(model, t, vocabulary, None, list, 8)[2]) for t in inputs)
    assert min(outputs) < 8 and max(outputs) == 8  # some outputs stopped at <eos>, some ran to max_length


def test_words_are_split_in_the_page_as_lib_splits_them(open_offline_html):
    vocabulary = Vocabulary(["the", "cat's", "sat", "on", "mat", ",", ".", "it_is", "42"])
    model = DecoderOnlyTransformer(TransformerConfig(vocab_size=len(vocabulary), d_model=16, num_heads=2, max_len=12))
    html = explorer_html(model.eval(), "the mat", vocabulary, tokenize=WordTokenizer.split)
    _, root, _ = open_offline_html(html)
    inputs = ["The cat's mat, ON the mat.", "it_is 42", "  the\tcat's\nsat  ", "the\u2003cat's\x1csat\u3000on\x85mat"]
    assert_page_runs_like_pytorch(root, model, vocabulary, WordTokenizer.split, 32, inputs)
    run_in_page(root, "the dog")
    message = run_error(
        "the dog", ValueError("“dog” is not in the model's vocabulary; it knows " + " ".join(vocabulary.tokens[4:]))
    )
    assert root.locator(".attn-x-error").text_content() == message
    for text in ("the 😀 mat", "the 👩‍👩‍👧 mat", "the cafÉ"):  # whole characters, lowercased as Python does
        run_in_page(root, text)
        with pytest.raises(ValueError) as problem:
            check_input(WordTokenizer.split(text), vocabulary, model.config.max_len)
        assert root.locator(".attn-x-error").text_content() == run_error(text, problem.value)
        assert "�" not in root.locator(".attn-x-error").text_content()


@functools.cache
def reverse_model_and_page() -> tuple[torch.nn.Module, str]:
    model, _ = load_checkpoint(CHECKPOINTS / "reverse.pt")
    options = {"max_length": 16, "start": ("cross", 1, 3), "hint": "Try abcdefghij."}
    return model, explorer_html(model, "abcdefgh", task_vocabulary("reverse", 10), **options)


@pytest.fixture
def reverse_explorer(open_offline_html):
    """The attention chapter's explorer, built here from the shipped reverse model."""
    model, html = reverse_model_and_page()
    page, root, dialogs = open_offline_html(html)
    return page, root, dialogs, model, task_vocabulary("reverse", 10)


def run_in_page(root, text: str) -> None:
    box = root.get_by_label("Input", exact=True)
    box.fill(text)
    root.get_by_role("button", name="Run").click()
    root.page.wait_for_function("(el) => !el.dataset.running", arg=root.element_handle())


def query_tokens(root) -> list[str]:
    return root.locator(".attn-x-queries .attn-x-text").all_text_contents()


def test_typing_reruns_the_model_in_the_page(reverse_explorer):
    page, root, _, model, vocabulary = reverse_explorer
    assert (
        "Type your own input (the model knows a b c d e f g h i j; it was trained on 4–12 symbols and may go wrong "
        "outside that; at most 32)" in root.locator(".attn-x-hint").text_content()
    )
    assert "The model runs in your browser." in root.locator(".attn-x-hint").text_content()
    assert root.get_attribute("data-kind") == "cross" and root.get_attribute("data-head") == "3"
    run_in_page(root, "abcdefghij")
    kinds, title, _ = model_attention(model, "abcdefghij", vocabulary, None, list, 16)
    assert root.locator(".attn-x-result").text_content() == title == "abcdefghij → jihgfedcba"
    assert query_tokens(root) == kinds["cross"][1]  # <bos> and the output, as rows
    assert root.get_attribute("data-kind") == "cross" and root.get_attribute("data-layer") == "1"  # view kept
    hover(root.locator(".attn-x-queries .attn-x-token").nth(2))
    expected = [round(float(w), 2) for w in kinds["cross"][0][1, 3, 2]]
    assert shown_values(root) == pytest.approx(expected, abs=0.0051)
    assert root.locator(".attn-x-error").text_content() == ""
    screenshot(root, "explorer-typed-input")


@pytest.mark.parametrize(
    "text", ["abcz", "", "abcdefghij" * 4, "<img src=x onerror=alert(1)>", "</script><script>alert(1)</script>"]
)
def test_bad_input_shows_a_clear_message_and_keeps_the_last_good_view(reverse_explorer, text):
    page, root, dialogs, model, vocabulary = reverse_explorer
    before = query_tokens(root)
    run_in_page(root, text)
    with pytest.raises(ValueError) as problem:
        check_input(list(text), vocabulary, model.config.max_len, trained_lengths(model))
    assert root.locator(".attn-x-error").text_content() == run_error(text, problem.value)  # the kernel's words
    assert query_tokens(root) == before
    assert root.locator("img, .attn-x-error *").count() == 0 and dialogs == []  # hostile text stays text


def test_heatmap_labels_rows_and_columns_with_tokens_when_they_fit(reverse_explorer, open_offline_html):
    _, root, _, _, _ = reverse_explorer
    assert root.locator(".attn-x-row-label").all_text_contents() == ["<bos>", *"hgfedcba"]
    assert root.locator(".attn-x-col-label").all_text_contents() == list("abcdefgh")
    weights = torch.full((1, 1, 64, 64), 1 / 64)
    tokens = [f"t{i}" for i in range(64)]
    _, crowded, _ = open_offline_html(static_html(make_payload({"encoder_self": (weights, tokens, tokens)})))
    assert crowded.locator(".attn-x-row-labels").is_hidden() and crowded.locator(".attn-x-col-labels").is_hidden()


def test_undecodable_payload_shows_an_error_line(open_offline_html, browser):
    payload = make_payload({"encoder_self": (torch.full((1, 1, 2, 2), 0.5), list("ab"), list("ab"))})
    payload["kinds"]["encoder_self"]["data"] = "not base64 at all!"
    context = browser.new_context()
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.abort())
        page.set_content(f"<!doctype html><html><body>{static_html(payload)}</body></html>")
        root = page.locator(".attention-explorer[data-failed]")
        root.wait_for()
        assert root.locator(".attn-x-error").text_content().startswith("The explorer could not read its data:")
        assert root.locator(".attn-x-error").is_visible()
    finally:
        context.close()


@pytest.mark.parametrize("chapter", ["chapters/attention.html", "chapters/generation.html"])
def test_a_page_carries_the_runtime_and_each_tensor_once(open_page, chapter):
    """Three explorers on the encoder-decoder page share one copy of the code and style, and the
    encoder-only model built from the sorting model's weights adds none of its own."""
    page, watcher = open_page(chapter)
    page.locator(".attention-explorer[data-ready]").first.wait_for()
    keys = page.eval_on_selector_all("[data-transformer-book]", "(all) => all.map((e) => e.dataset.transformerBook)")
    assert len(keys) == len(set(keys))
    assert sum(key.startswith("runtime-") for key in keys) == 1
    assert page.locator(".attention-explorer[data-ready]").count() == page.locator(".transformer-book-root").count()
    assert watcher.console_errors == [] and watcher.offsite_requests == []


def test_the_page_suggests_known_words_and_warns_outside_the_trained_lengths(open_offline_html):
    """A vocabulary too large to list: an unknown word gets similar known ones (as the kernel says);
    an input longer than the model saw in training runs, with a warning naming the lengths."""
    vocabulary = Vocabulary([f"word{i}" for i in range(50)] + ["help", "hello", "yellow"])
    model = DecoderOnlyTransformer(TransformerConfig(vocab_size=len(vocabulary), d_model=16, num_heads=2, max_len=12))
    model.training_recipe = {"window": 5}  # trained on 4 words at a time
    html = explorer_html(model.eval(), "help hello", vocabulary, tokenize=WordTokenizer.split)
    _, root, _ = open_offline_html(html)
    assert "the model knows 53 words, such as word0, word1" in root.locator(".attn-x-hint").text_content()
    assert "it was trained on 1–4 words" in root.locator(".attn-x-hint").text_content()
    for text in ("helo", "xyzzy", "yelow hello"):
        run_in_page(root, text)
        with pytest.raises(ValueError) as problem:
            check_input(WordTokenizer.split(text), vocabulary, 12)
        assert root.locator(".attn-x-error").text_content() == run_error(text, problem.value)
    assert root.locator(".attn-x-error").text_content().endswith("similar ones it knows: yellow")
    run_in_page(root, "help hello yellow help hello")
    assert root.locator(".attn-x-error").text_content() == ""
    assert root.locator(".attn-x-warning").text_content() == length_warning(5, [1, 4], "words")
    run_in_page(root, "help hello")
    assert root.locator(".attn-x-warning").text_content() == ""


def test_a_new_run_clears_the_last_runs_warning(reverse_explorer):
    """32 symbols run with a warning (the model saw at most 12); then "ABCD" fails: its error stands
    alone, without the warning about the earlier input; a good input after it shows neither."""
    _, root, _, model, vocabulary = reverse_explorer
    run_in_page(root, ("abcdefghij" * 4)[:32])
    assert root.locator(".attn-x-warning").text_content() == length_warning(32, trained_lengths(model), "symbols")
    run_in_page(root, "ABCD")
    with pytest.raises(ValueError) as problem:
        check_input(list("ABCD"), vocabulary, model.config.max_len)
    assert root.locator(".attn-x-error").text_content() == run_error("ABCD", problem.value)
    assert root.locator(".attn-x-warning").text_content() == "" and root.locator(".attn-x-warning").is_hidden()
    run_in_page(root, "abcdefgh")
    assert root.locator(".attn-x-error").text_content() == root.locator(".attn-x-warning").text_content() == ""


def test_the_keyboard_alone_runs_the_explorer(reverse_explorer):
    """Tab to the text box, type, Enter runs and the focus stays; Tab to Run, Enter runs and the
    focus stays on Run; every control draws its focus."""
    page, root, _, model, vocabulary = reverse_explorer
    outline = """() => { const style = getComputedStyle(document.activeElement);
                         return style.outlineStyle === "none" ? 0 : parseFloat(style.outlineWidth); }"""
    page.keyboard.press("Tab")
    for label in ("Attention", "Layer", "Head", "Input"):
        assert page.evaluate("document.activeElement.ariaLabel") == label and page.evaluate(outline) >= 2
        if label != "Input":
            page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("abcdefghij")
    page.keyboard.press("Enter")
    page.wait_for_function("(el) => !el.dataset.running", arg=root.element_handle())
    assert root.locator(".attn-x-result").text_content() == "abcdefghij → jihgfedcba"
    assert page.evaluate("document.activeElement.ariaLabel") == "Input"
    page.keyboard.press("Control+A")
    page.keyboard.type("abz")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Run" and page.evaluate(outline) >= 2
    page.keyboard.press("Enter")
    page.wait_for_function("(el) => !el.dataset.running", arg=root.element_handle())
    assert root.locator(".attn-x-error").text_content().startswith("Could not run the model on “abz”")
    assert page.evaluate("document.activeElement.textContent") == "Run"
    page.keyboard.press("Tab")  # on to the first query token, which shows where it looks
    assert "query 1" in root.locator(".attn-x-status").text_content() and page.evaluate(outline) >= 2


PHONE = (390, 844)
LONG_INPUTS = {  # 5,000 characters each
    "letters the model knows": "abcdefghij" * 500,
    "a letter it does not know": "z" * 5000,
    "accents, CJK and emoji": ("naïve café — 東京 🚀" * 300)[:5000],
    "words": ("the cat sat on the mat " * 300)[:5000],
}


def phone_explorer(open_page, chapter: str, tokenize: str):
    """The chapter's first explorer whose model splits text into `tokenize`, at phone size; and its model."""
    page, watcher = open_page(chapter, viewport=PHONE)
    page.locator(".attention-explorer[data-ready]").first.wait_for()
    tokenizers = page.eval_on_selector_all(
        ".attention-explorer-static",
        "(all) => all.map((e) => { const m = e.querySelector('.transformer-book-model');"
        " return m ? JSON.parse(m.textContent).tokenize : null; })",
    )
    index = tokenizers.index(tokenize)
    root = page.locator(".attention-explorer-static").nth(index).locator(".attention-explorer")
    (spec,) = embedded_models(page.locator(".attention-explorer-static").nth(index).inner_html())
    return page, watcher, root, spec


@pytest.mark.parametrize(
    "chapter, tokenize", [("chapters/attention.html", "characters"), ("chapters/generation.html", "words")]
)
def test_a_5000_character_input_gets_a_short_error_that_fits_a_phone(open_page, chapter, tokenize):
    """On a 390-px phone, inputs of 5,000 characters: the error is the kernel's, quotes at most a short
    excerpt, takes at most four lines, and neither the page nor the explorer's box grows sideways."""
    page, watcher, root, spec = phone_explorer(open_page, chapter, tokenize)
    vocabulary = Vocabulary(spec["source_tokens"])
    split = TOKENIZERS[tokenize]
    root.scroll_into_view_if_needed()
    box_width = root.evaluate("(el) => el.scrollWidth")
    for name, text in LONG_INPUTS.items():
        run_in_page(root, text)
        with pytest.raises(ValueError) as problem:
            check_input(split(text), vocabulary, spec["config"]["max_len"], spec.get("lengths"))
        error = root.locator(".attn-x-error")
        message = error.text_content()
        assert message == run_error(text, problem.value), name
        assert len(message) <= 200 and text[:40] not in message, name  # an excerpt, not the input
        height, line = error.evaluate(
            "(e) => [e.getBoundingClientRect().height, parseFloat(getComputedStyle(e).lineHeight)]"
        )
        assert height <= 4 * line + 1, f"{name}: the error is {height:.0f} px high ({height / line:.1f} lines)"
        assert error.evaluate("(e) => e.scrollWidth <= e.clientWidth"), name
        assert root.evaluate("(el) => el.scrollWidth") <= box_width, f"{name}: the explorer's box grew sideways"
        page_width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert page_width[0] <= page_width[1], f"{name}: the page scrolls sideways"
    screenshot(root, f"explorer-phone-long-input-{tokenize}")
    assert watcher.console_errors == [] and watcher.offsite_requests == []


def test_the_page_quotes_an_excerpt_as_lib_does(open_offline_html):
    """Errors quote the same excerpt in the page as in the kernel: cut at the same code point, never
    between a letter and its accents, inside an emoji sequence or a flag, whatever the limit."""
    pieces = [
        "a",
        " ",
        "é",
        "e\u0301",
        "e\u0301\u0302",
        "東",
        "🚀",
        "👍🏽",
        "👩\u200d👩\u200d👧",
        "🇫🇷",
        "🇯🇵",
        "❤️",
        "😀",
    ]
    generator = random.Random(0)
    texts = ["", "abc", "a" * 5000, ("naïve café — 東京 🚀" * 300)[:5000]]
    texts += ["".join(generator.choice(pieces) for _ in range(generator.randint(1, 30))) for _ in range(300)]
    _, root, _ = open_offline_html(static_html(make_payload({"encoder_self": (torch.ones(1, 1, 1, 1), ["a"], ["a"])})))
    limits = [2, 3, 5, 8, 13, 20]
    book = f"window.transformerBook['{RUNTIME_KEY}']"
    script = f"([texts, limits]) => texts.map((t) => limits.map((n) => {book}.excerpt(t, n)))"
    shown = root.page.evaluate(script, [texts, limits])
    for text, page_excerpts in zip(texts, shown, strict=True):
        assert page_excerpts == [excerpt(text, n) for n in limits], repr(text)
