"""The attention explorer widget: see every layer's and head's attention weights.

In a running kernel it is a live widget (anywidget): type a new input and the model runs
again. Its output also carries a self-contained HTML version with the same JavaScript and
the weights embedded, so the published static site stays interactive with no kernel and
no network: choosing kind, layer and head, and hovering tokens, all happen in the page.
"""

import copy
import html
from collections.abc import Callable
from pathlib import Path

import anywidget
import torch
import traitlets

from lib.decoding import greedy_decode, strip_after_eos
from lib.model import DecoderOnlyTransformer, EncoderOnlyTransformer, Transformer
from lib.tokenizers import BOS_ID, Vocabulary
from lib.widget.payload import KIND_LABELS, make_payload, payload_json_for_html

HERE = Path(__file__).parent
ESM_SOURCE = (HERE / "explorer.js").read_text()
CSS_SOURCE = (HERE / "explorer.css").read_text()
EXPORT_LINE = "export default { render };"


class AttentionExplorer(anywidget.AnyWidget):
    """Shows attention weights as a heatmap and as lines between the two token columns."""

    _esm = ESM_SOURCE
    _css = CSS_SOURCE
    payload = traitlets.Dict().tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)
    live = traitlets.Bool(False).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, payload: dict, rerun: Callable[[str], dict] | None = None, text: str = ""):
        super().__init__(payload=payload, text=text, live=rerun is not None)
        self._rerun = rerun
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
    ):
        """Run `model` on `text` and show its attention; in a kernel, the text box runs it again.

        For an encoder-decoder model the target is the model's own greedy output. `start` is the
        (kind, layer, head) to open on, counted from 0.
        """

        def rerun(new_text: str) -> dict:
            return model_payload(model, new_text, source_vocabulary, target_vocabulary, tokenize, max_length, start)

        return cls(rerun(text), rerun=rerun, text=text)

    def _on_text(self, change) -> None:
        try:
            self.payload = self._rerun(change["new"])
            self.error = ""
        except (ValueError, IndexError, KeyError) as problem:
            self.error = f"Could not run the model on {change['new']!r}: {problem}"

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
        data = {**data, "text/plain": self.summary(), "text/html": static_html(self.payload)}
        return data, metadata


def static_html(payload: dict) -> str:
    """A self-contained page fragment: the explorer's CSS and JavaScript, and the weights.

    Runs without a kernel: a stand-in model answers `get` from the embedded payload.
    """
    script = ESM_SOURCE.replace(EXPORT_LINE, "")
    if script == ESM_SOURCE:
        raise RuntimeError("explorer.js must end with its default export")
    title = html.escape(payload.get("title") or "Attention explorer")
    return (
        f'<div class="attention-explorer-static" aria-label="{title}">'
        f"<style>{CSS_SOURCE}</style>"
        f'<script type="application/json" class="attention-explorer-data">{payload_json_for_html(payload)}</script>'
        '<div class="attention-explorer-root"></div>'
        "<script>(function () {\n"
        "const holder = document.currentScript.parentElement;\n"
        'const data = JSON.parse(holder.querySelector(".attention-explorer-data").textContent);\n'
        f"{script}\n"
        "const model = { get: (name) => ({ payload: data, live: false, text: '', error: '' })[name],"
        " set() {}, save_changes() {}, on() {} };\n"
        'render({ model, el: holder.querySelector(".attention-explorer-root") });\n'
        "})();</script></div>"
    )


@torch.no_grad()
def model_payload(
    model: torch.nn.Module,
    text: str,
    source_vocabulary: Vocabulary,
    target_vocabulary: Vocabulary | None,
    tokenize: Callable[[str], list[str]],
    max_length: int,
    start: tuple[str, int, int] | None = None,
) -> dict:
    """Attention weights of `model` on `text`, computed in float64 so the 8-bit codes are the same on every CPU."""
    tokens = tokenize(text)
    if not tokens:
        raise ValueError("the input is empty")
    ids = torch.tensor([source_vocabulary.encode(tokens)])
    exact = copy.deepcopy(model).cpu().double().eval()  # a copy: the caller's model keeps its device and dtype
    shown = source_vocabulary.decode(ids[0], skip_special=False)
    if isinstance(exact, Transformer):
        target_vocabulary = target_vocabulary or source_vocabulary
        output = strip_after_eos(greedy_decode(exact, ids, max_length)[0].tolist())
        target = torch.tensor([[BOS_ID] + output])
        _, maps = exact.forward_with_attention(ids, target)
        target_shown = target_vocabulary.decode(target[0], skip_special=False)
        kinds = {
            "encoder_self": (stack(maps.encoder_self), shown, shown),
            "decoder_self": (stack(maps.decoder_self), target_shown, target_shown),
            "cross": (stack(maps.cross), target_shown, shown),
        }
        title = f"{''.join(tokens)} → {''.join(target_vocabulary.decode(output))}"
    elif isinstance(exact, DecoderOnlyTransformer | EncoderOnlyTransformer):
        _, maps = exact.forward_with_attention(ids)
        name = "decoder_self" if isinstance(exact, DecoderOnlyTransformer) else "encoder_self"
        kinds = {name: (stack(getattr(maps, name)), shown, shown)}
        title = "".join(tokens)
    else:
        raise TypeError(f"expected a lib model, got {type(model).__name__}")
    return make_payload(kinds, title=title, start=start)


def stack(per_layer: list[torch.Tensor]) -> torch.Tensor:
    """[(1, heads, q, k)] * layers -> (layers, heads, q, k)."""
    return torch.cat(per_layer, dim=0)


__all__ = ["AttentionExplorer", "KIND_LABELS", "static_html"]
