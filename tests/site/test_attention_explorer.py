"""The attention explorer on the built site, offline: controls, hover values, keyboard, speed."""

import json
import re

import numpy as np
import pytest
import torch

from lib.checkpoint import load_checkpoint
from lib.tasks import task_vocabulary
from lib.widget import static_html
from lib.widget.explorer import ESM_SOURCE, model_payload
from lib.widget.payload import decode_kind, make_payload
from site_helpers import ROOT, SCREENSHOTS, screenshot

CHAPTER = "chapters/attention.html"


@pytest.fixture
def explorer(open_page):
    page, watcher = open_page(CHAPTER)
    root = page.locator(".attention-explorer[data-ready]").first
    root.wait_for()
    yield page, root
    assert watcher.console_errors == [] and watcher.offsite_requests == []


def embedded_payload(page) -> dict:
    return json.loads(page.locator(".attention-explorer-data").first.text_content())


def shown_values(root) -> list[float]:
    return [float(v) for v in root.locator(".attn-x-keys .attn-x-value").all_text_contents()]


def test_embedded_weights_are_the_trained_models(explorer):
    page, _ = explorer
    model, _ = load_checkpoint(ROOT / "chapters" / "checkpoints" / "reverse.pt")
    expected = model_payload(model, "abcdefgh", task_vocabulary("reverse", 10), None, list, 16)
    embedded = embedded_payload(page)
    for kind, entry in expected["kinds"].items():
        assert embedded["kinds"][kind]["rows"] == entry["rows"]
        np.testing.assert_allclose(decode_kind(embedded["kinds"][kind]), decode_kind(entry), atol=1 / 255)


def test_switching_layer_and_head_shows_the_right_weights_on_hover(explorer):
    page, root = explorer
    weights = decode_kind(embedded_payload(page)["kinds"]["cross"])  # (layers, heads, rows, cols)
    root.get_by_label("Attention", exact=True).select_option(value="cross")
    seen = []
    for layer, head in [(1, 2), (0, 0), (1, 0)]:
        root.get_by_label("Layer", exact=True).select_option(value=str(layer + 1))
        root.get_by_label("Head", exact=True).select_option(value=str(head + 1))
        root.locator(".attn-x-queries .attn-x-token").nth(3).hover()
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
    root.locator(".attn-x-queries .attn-x-token").nth(0).hover()
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


def test_live_mode_module_sends_text_and_redraws_on_new_weights(open_offline_html):
    """The ES module anywidget loads in Jupyter, driven by a stand-in for the widget model."""
    first = make_payload({"encoder_self": (torch.full((1, 2, 3, 3), 1 / 3), list("abc"), list("abc"))})
    second = make_payload({"encoder_self": (torch.full((1, 2, 4, 4), 1 / 4), list("wxyz"), list("wxyz"))})
    assert "</script>" not in ESM_SOURCE  # so the module can sit inside a <script> element as is
    page_source = f"""<!doctype html><html><body><div id="root"></div>
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
        on: (event, callback) => {{ listeners[event] = callback; }},
      }};
      window.kernelReplies = (payload, error) => {{
        state.payload = payload; state.error = error;
        listeners["change:payload"](); listeners["change:error"]();
      }};
      module.default.render({{ model, el: document.getElementById("root") }});
    </script></body></html>"""
    page, root, _ = open_offline_html(page_source)
    text_box = root.get_by_label("Input", exact=True)
    assert text_box.input_value() == "abc"
    text_box.fill("wxyz")
    root.get_by_role("button", name="Run").click()
    assert page.evaluate("window.sent") == [["text", "wxyz"], ["save"]]
    page.evaluate(f"window.kernelReplies({json.dumps(second)}, 'shown after a new run')")
    page.wait_for_function("document.querySelectorAll('.attn-x-queries .attn-x-token').length === 4")
    assert root.locator(".attn-x-queries").text_content().replace(" ", "") == "wxyz"
    assert root.locator(".attn-x-error").text_content() == "shown after a new run"
