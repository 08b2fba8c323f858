"""The book's widgets on a static page: one shared runtime, and blocks a page needs only once.

Every widget's HTML output is self-contained (it works alone, e.g. in a notebook viewer), but
the parts that many outputs share are marked `data-transformer-book="<key>"`, where the key is
a hash of the content: the runtime (the JavaScript of lib/widget/*.js), its style sheet, and
each tensor of an embedded model. `deduplicate_shared_blocks` keeps the first copy of each on a
page, so a chapter with three explorers loads the code once, and an encoder-only model made
from a sorting model's weights adds no bytes to a page that already carries them.
"""

import hashlib
import json
import re
from pathlib import Path

HERE = Path(__file__).parent
# One runtime for every widget: the forward pass, the tokenizers, sampling, then the two views.
RUNTIME_FILES = ("transformer.js", "bpe.js", "sampling.js", "explorer.js", "generator.js")
RUNTIME_SOURCE = "\n".join((HERE / name).read_text() for name in RUNTIME_FILES)
CSS_SOURCE = (HERE / "explorer.css").read_text()
RUNTIME_KEY = "runtime-" + hashlib.sha256((RUNTIME_SOURCE + CSS_SOURCE).encode()).hexdigest()[:16]
SHARED_BLOCK = re.compile(r'<(script|style)\b[^>]*? data-transformer-book="([^"]+)"[^>]*>.*?</\1>', re.S)

if "</script" in RUNTIME_SOURCE or "</style" in CSS_SOURCE:
    raise RuntimeError("the runtime must not contain a closing </script> or </style> tag")


def content_key(prefix: str, data: bytes) -> str:
    return f"{prefix}-{hashlib.sha256(data).hexdigest()[:20]}"


def json_for_html(value) -> str:
    """JSON that is safe inside a <script> element: '<', '>' and '&' are written as \\u escapes."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def runtime_blocks() -> str:
    """The style and the runtime; the script defines window.transformerBook[RUNTIME_KEY] once."""
    return (
        f'<style data-transformer-book="css-{RUNTIME_KEY}">{CSS_SOURCE}</style>'
        f'<script data-transformer-book="{RUNTIME_KEY}">(function () {{\n'
        "const book = (window.transformerBook = window.transformerBook || {});\n"
        f'if (book["{RUNTIME_KEY}"]) return;\n'
        f"{RUNTIME_SOURCE}\n"
        "// A stand-in for the widget model that anywidget gives in Jupyter: `get` answers from `state`.\n"
        "const standIn = (state) => ({ get: (name) => state[name], set() {}, save_changes() {}, on() {}, off() {} });\n"
        "// The views, and the parts the tests and the benchmark call directly.\n"
        f'book["{RUNTIME_KEY}"] = {{ render, renderGenerator, standIn, loadTransformer, BytePairTokenizer,\n'
        "  Generation, excerpt };\n"
        "})();</script>"
    )


def weight_blocks(weights: dict[str, str]) -> str:
    """Each tensor of a model (key -> base64 text) in its own block, found by its key."""
    return "".join(
        f'<script type="application/octet-stream" data-transformer-book="{key}">{text}</script>'
        for key, text in weights.items()
    )


def static_widget(view: str, css_class: str, label: str, state: dict, model: dict | None = None) -> str:
    """A widget that runs with no kernel: the runtime, its state, the model (if any), its weights.

    `view` is "render" (the attention explorer) or "renderGenerator" (the text generator); `state`
    is what the widget model's `get` answers, and `model` (from lib/widget/payload.py's
    `encode_model`) goes into `state[model_field]` as JSON text, without its weights, which sit in
    their own blocks.
    """
    weights = ""
    if model is not None:
        weights = weight_blocks(model["weights"])
        model = {**model, "weights": None}
    return (
        f'<div class="{css_class}" aria-label="{label}">'
        f"{runtime_blocks()}"
        f'<script type="application/json" class="transformer-book-state">{json_for_html(state)}</script>'
        + (
            f'<script type="application/json" class="transformer-book-model">{json_for_html(model)}</script>'
            if model
            else ""
        )
        + f'{weights}<div class="transformer-book-root"></div>'
        "<script>(function () {\n"
        "const holder = document.currentScript.parentElement;\n"
        f'const book = window.transformerBook["{RUNTIME_KEY}"];\n'
        "const read = (name) => { const block = holder.querySelector(name); return block && block.textContent; };\n"
        "let state;\n"
        'try { state = JSON.parse(read(".transformer-book-state")); }\n'
        "catch (problem) { state = { payload: { broken: String(problem) } }; }\n"
        'state.engine = read(".transformer-book-model");\n'
        f'book.{view}({{ model: book.standIn(state), el: holder.querySelector(".transformer-book-root") }});\n'
        "})();</script></div>"
    )


def deduplicate_shared_blocks(html: str) -> str:
    """Keep only the first block of each `data-transformer-book` key on a page (same key, same content)."""
    seen = set()

    def keep_first(match: re.Match) -> str:
        if match.group(2) in seen:
            return ""
        seen.add(match.group(2))
        return match.group(0)

    return SHARED_BLOCK.sub(keep_first, html)
