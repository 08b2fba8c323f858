"""The attention explorer widget: see every layer's and head's attention weights.

In a running kernel it is a live widget (anywidget): type a new input and the model runs
again. Its output also carries a self-contained HTML version with the same JavaScript and
the weights embedded, so the published static site stays interactive with no kernel and
no network: choosing kind, layer and head, and hovering tokens, all happen in the page.
An explorer made with `from_model` also embeds the model, and the page's own JavaScript
(transformer.js) runs it on whatever the reader types.
"""

import copy
import html
import weakref
from collections.abc import Callable
from pathlib import Path

import anywidget
import torch
import traitlets

from lib.decoding import greedy_decode, strip_after_eos
from lib.model import DecoderOnlyTransformer, EncoderOnlyTransformer, Transformer
from lib.tokenizers import BOS_ID, EOS_ID, SPECIAL_TOKENS, CharTokenizer, Vocabulary, WordTokenizer
from lib.widget.payload import KIND_LABELS, encode_model, make_payload, payload_json_for_html

HERE = Path(__file__).parent
ENGINE_SOURCE = (HERE / "transformer.js").read_text()
ESM_SOURCE = ENGINE_SOURCE + "\n" + (HERE / "explorer.js").read_text()
CSS_SOURCE = (HERE / "explorer.css").read_text()
EXPORT_LINE = "export default { render };"
LISTED_SYMBOLS = 40  # a vocabulary up to this size is listed in the hint and in error messages


class AttentionExplorer(anywidget.AnyWidget):
    """Shows attention weights as a heatmap and as lines between the two token columns."""

    _esm = ESM_SOURCE
    _css = CSS_SOURCE
    payload = traitlets.Dict().tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)
    live = traitlets.Bool(False).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        payload: dict,
        rerun: Callable[[str], dict] | None = None,
        text: str = "",
        browser_model: Callable[[], dict | None] | None = None,
    ):
        super().__init__(payload=payload, text=text, live=rerun is not None)
        self._rerun = rerun
        self._browser_model = browser_model
        if rerun is not None:
            self.observe(self._on_text, names="text")

    @classmethod
    def from_weights(
        cls, weights, row_tokens: list[str], col_tokens: list[str] | None = None, kind: str = "encoder_self"
    ):
        """From a weights tensor (layers, heads, rows, cols) or (heads, rows, cols) and its tokens."""
        columns = row_tokens if col_tokens is None else col_tokens
        return cls(make_payload({kind: (weights, row_tokens, columns)}))

    @classmethod
    def from_model(
        cls,
        model: torch.nn.Module,
        text: str,
        source_vocabulary: Vocabulary,
        target_vocabulary: Vocabulary | None = None,
        tokenize: Callable[[str], list[str]] = list,
        max_length: int = 32,
        start: tuple[str, int, int] | None = None,
        hint: str = "",
    ):
        """Run `model` on `text` and show its attention; the text box runs it again.

        For an encoder-decoder model the target is the model's own greedy output, at most
        `max_length` tokens (and never more than the decoder's positional table holds). `start` is
        the (kind, layer, head) to open on, counted from 0; `hint` is a sentence shown above the
        explorer, e.g. what to type. In a kernel, Python re-runs the model; on the static page,
        where `tokenize` is `list` (characters) or `WordTokenizer.split` (words), the page carries
        the model and the browser re-runs it (lib/widget/transformer.js).
        """
        if architecture(model) == "encoder-decoder":  # (a clear error for any other kind of model)
            max_length = min(max_length, model.config.max_len - 1)  # <bos> + output must fit the table
        target_vocabulary = target_vocabulary or source_vocabulary
        hint = input_hint(source_vocabulary, model.config.max_len, hint)

        def rerun(new_text: str) -> dict:
            arguments = (model, new_text, source_vocabulary, target_vocabulary, tokenize, max_length)
            return model_payload(*arguments, start=start, hint=hint)

        def browser_model() -> dict | None:
            return browser_spec(model, source_vocabulary, target_vocabulary, tokenize, max_length, text)

        return cls(rerun(text), rerun=rerun, text=text, browser_model=browser_model)

    def _on_text(self, change) -> None:
        try:
            self.payload = self._rerun(change["new"])
            self.error = ""
        except (ValueError, IndexError, KeyError) as problem:
            self.error = run_error(change["new"], problem)

    def summary(self) -> str:
        parts = [
            f"{spec['label']}: {spec['layers']} layers x {spec['heads']} heads"
            for spec in self.payload["kinds"].values()
        ]
        return "AttentionExplorer(" + "; ".join(parts) + ")"

    def __repr__(self) -> str:
        return self.summary()

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle or {}, {})
        model = self._browser_model() if self._browser_model is not None else None
        data = {**data, "text/plain": self.summary(), "text/html": static_html(self.payload, model)}
        return data, metadata


def static_html(payload: dict, model: dict | None = None) -> str:
    """A self-contained page fragment: the explorer's CSS and JavaScript, and the weights.

    Runs without a kernel: a stand-in widget model answers `get` from the embedded payload. With
    `model` (from `browser_spec`) the page also carries the model, and typing runs it in the page.
    """
    script = ESM_SOURCE.replace(EXPORT_LINE, "")
    if script == ESM_SOURCE:
        raise RuntimeError("explorer.js must end with its default export")
    title = html.escape(payload.get("title") or "Attention explorer")
    text = payload_json_for_html(model["text"] if model is not None else "")
    model_block = (
        f'<script type="application/json" class="attention-explorer-model">{payload_json_for_html(model)}</script>'
        if model is not None
        else ""
    )
    return (
        f'<div class="attention-explorer-static" aria-label="{title}">'
        f"<style>{CSS_SOURCE}</style>"
        f'<script type="application/json" class="attention-explorer-data">{payload_json_for_html(payload)}</script>'
        f"{model_block}"
        '<div class="attention-explorer-root"></div>'
        "<script>(function () {\n"
        "const holder = document.currentScript.parentElement;\n"
        "const read = (name) => { const block = holder.querySelector(name); return block && block.textContent; };\n"
        "let data;\n"
        'try { data = JSON.parse(read(".attention-explorer-data")); }\n'
        "catch (problem) { data = { broken: String(problem) }; }\n"
        'const engine = read(".attention-explorer-model");\n'
        f"{script}\n"
        f"const state = {{ payload: data, live: false, text: {text}, error: '', engine }};\n"
        "const model = { get: (name) => state[name], set() {}, save_changes() {}, on() {}, off() {} };\n"
        'render({ model, el: holder.querySelector(".attention-explorer-root") });\n'
        "})();</script></div>"
    )


def input_hint(vocabulary: Vocabulary, max_len: int, extra: str = "") -> str:
    """What the reader may type: the symbols (when there are few) and how many; then `extra`."""
    symbols = [t for t in vocabulary.tokens if t not in SPECIAL_TOKENS]
    known = f"the model knows {' '.join(symbols)}" if len(symbols) <= LISTED_SYMBOLS else f"{len(symbols)} tokens"
    first = f"Type your own input ({known}; at most {max_len}) and press Run."
    return f"{first} {extra}" if extra else first


def tokenizer_name(tokenize: Callable[[str], list[str]]) -> str | None:
    """The tokenizers the browser can mirror: "characters" or "words"; None for any other."""
    function = getattr(tokenize, "__func__", tokenize)
    if tokenize is list or function is CharTokenizer.split:
        return "characters"
    if function is WordTokenizer.split:
        return "words"
    return None


def vocabulary_note(vocabulary: Vocabulary) -> str:
    symbols = [t for t in vocabulary.tokens if t not in SPECIAL_TOKENS]
    return f"; it knows {' '.join(symbols)}" if len(symbols) <= LISTED_SYMBOLS else ""


def check_input(tokens: list[str], vocabulary: Vocabulary, max_len: int) -> list[int]:
    """Token ids of `tokens`, or a ValueError in the words the browser uses too (transformer.js)."""
    if not tokens:
        raise ValueError("the input is empty")
    for token in tokens:
        if token not in vocabulary.index or token in SPECIAL_TOKENS:
            raise ValueError(f"“{token}” is not in the model's vocabulary{vocabulary_note(vocabulary)}")
    if len(tokens) > max_len:
        raise ValueError(f"the input has {len(tokens)} tokens but the model's positional table holds at most {max_len}")
    return vocabulary.encode(tokens)


def run_error(text: str, problem: Exception) -> str:
    message = problem.args[0] if problem.args else str(problem)
    return f"Could not run the model on “{text}”: {message}"


def architecture(model: torch.nn.Module) -> str:
    if isinstance(model, Transformer):
        return "encoder-decoder"
    if isinstance(model, DecoderOnlyTransformer):
        return "decoder-only"
    if isinstance(model, EncoderOnlyTransformer):
        return "encoder-only"
    raise TypeError(f"expected a lib model, got {type(model).__name__}")


def browser_spec(
    model: torch.nn.Module,
    source_vocabulary: Vocabulary,
    target_vocabulary: Vocabulary,
    tokenize: Callable[[str], list[str]],
    max_length: int,
    text: str,
) -> dict | None:
    """The model as the page's JavaScript runs it, or None if the browser cannot mirror `tokenize`."""
    name = tokenizer_name(tokenize)
    if name is None:
        return None
    settings = {
        "tokenize": name,
        "source_tokens": list(source_vocabulary.tokens),
        "target_tokens": list(target_vocabulary.tokens),
        "known": vocabulary_note(source_vocabulary),
        "max_length": max_length,
        "text": text,
    }
    return encode_model(model, architecture(model), settings)


@torch.no_grad()
def model_attention(
    model: torch.nn.Module,
    text: str,
    source_vocabulary: Vocabulary,
    target_vocabulary: Vocabulary | None,
    tokenize: Callable[[str], list[str]],
    max_length: int,
) -> tuple[dict[str, tuple], str, list[int] | None]:
    """What the explorer shows for `text`, in float64 (so the 8-bit codes are the same on every CPU).

    Returns (kinds, title, output): kinds maps each kind of attention to (weights (layers, heads,
    rows, cols), row tokens, column tokens); output is an encoder-decoder's greedy output ids
    (before <eos>), None for the other models.
    """
    kind_of_model = architecture(model)
    tokens = tokenize(text)
    ids = torch.tensor([check_input(tokens, source_vocabulary, model.config.max_len)])
    exact = float64_copy(model)
    joiner = " " if tokenizer_name(tokenize) == "words" else ""
    if kind_of_model == "encoder-decoder":
        target_vocabulary = target_vocabulary or source_vocabulary
        eos_id = getattr(exact.config, "eos_id", EOS_ID)
        bos_id = getattr(exact.config, "bos_id", BOS_ID)
        # Without the key/value cache: the decoder re-reads the prefix with its padding mask, as
        # `forward_with_attention` below does, so the weights shown are the ones that chose each token
        # (the cached path does not mask a <pad> the model emits; trained models do not emit one).
        output = strip_after_eos(greedy_decode(exact, ids, max_length, use_cache=False)[0].tolist(), eos_id)
        target = torch.tensor([[bos_id] + output])
        _, maps = exact.forward_with_attention(ids, target)
        target_shown = target_vocabulary.decode(target[0], skip_special=False)
        kinds = {
            "encoder_self": (stack(maps.encoder_self), tokens, tokens),
            "decoder_self": (stack(maps.decoder_self), target_shown, target_shown),
            "cross": (stack(maps.cross), target_shown, tokens),
        }
        return kinds, f"{joiner.join(tokens)} → {joiner.join(target_vocabulary.decode(output))}", output
    _, maps = exact.forward_with_attention(ids)
    name = "decoder_self" if kind_of_model == "decoder-only" else "encoder_self"
    return {name: (stack(getattr(maps, name)), tokens, tokens)}, joiner.join(tokens), None


_COPIES: "weakref.WeakKeyDictionary[torch.nn.Module, tuple]" = weakref.WeakKeyDictionary()


def float64_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A float64 CPU copy of `model` in eval mode (the caller's model keeps its device and dtype),
    made again only when a parameter has changed since the last call (training bumps versions)."""
    key = tuple((p.data_ptr(), p._version) for p in model.parameters())
    cached = _COPIES.get(model)
    if cached is None or cached[0] != key:
        cached = (key, copy.deepcopy(model).cpu().double().eval())
        _COPIES[model] = cached
    return cached[1]


def model_payload(*arguments, start: tuple[str, int, int] | None = None, hint: str = "") -> dict:
    """The explorer's payload: `model_attention(*arguments)`, packed (see lib/widget/payload.py)."""
    kinds, title, _ = model_attention(*arguments)
    return make_payload(kinds, title=title, start=start, hint=hint)


def stack(per_layer: list[torch.Tensor]) -> torch.Tensor:
    """[(1, heads, q, k)] * layers -> (layers, heads, q, k)."""
    return torch.cat(per_layer, dim=0)


__all__ = ["AttentionExplorer", "KIND_LABELS", "static_html"]
