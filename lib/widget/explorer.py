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
import unicodedata
import weakref
from collections.abc import Callable

import anywidget
import torch
import traitlets

from lib.decoding import greedy_decode, strip_after_eos
from lib.model import DecoderOnlyTransformer, EncoderOnlyTransformer, Transformer
from lib.tokenizers import BOS_ID, EOS_ID, SPECIAL_TOKENS, CharTokenizer, Vocabulary, WordTokenizer
from lib.widget.page import CSS_SOURCE, RUNTIME_SOURCE, static_widget
from lib.widget.payload import KIND_LABELS, encode_model, make_payload

ESM_SOURCE = RUNTIME_SOURCE + "\nexport default { render };\n"
LISTED_SYMBOLS = 40  # a vocabulary up to this size is listed in the hint and in error messages
EXAMPLE_SYMBOLS = 8  # a larger one is named by its first (most frequent) symbols
SIMILAR_SYMBOLS = 5  # an unknown word gets up to this many known ones within SIMILAR_DISTANCE edits
SIMILAR_DISTANCE = 2
EXCERPT_LENGTH = 20  # an error quotes at most this many characters of what the reader typed ("…" included)
ZERO_WIDTH_JOINER = "\u200d"


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
        lengths = trained_lengths(model)
        unit = input_unit(tokenize)
        hint = input_hint(source_vocabulary, model.config.max_len, hint, lengths, unit)

        def rerun(new_text: str) -> dict:
            arguments = (model, new_text, source_vocabulary, target_vocabulary, tokenize, max_length)
            return model_payload(*arguments, start=start, hint=hint, lengths=lengths, unit=unit)

        def browser_model() -> dict | None:
            spec = browser_spec(model, source_vocabulary, target_vocabulary, tokenize, max_length, text)
            return None if spec is None else {**spec, "lengths": lengths, "unit": unit}

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
    """A self-contained page fragment: the shared runtime and style, the weights, and the explorer.

    Runs without a kernel: a stand-in widget model answers `get` from the embedded payload. With
    `model` (from `browser_spec`) the page also carries the model, and typing runs it in the page.
    """
    title = html.escape(payload.get("title") or "Attention explorer", quote=True)
    state = {"payload": payload, "live": False, "text": model["text"] if model is not None else "", "error": ""}
    return static_widget("render", "attention-explorer-static", title, state, model)


def trained_lengths(model: torch.nn.Module) -> list[int] | None:
    """[shortest, longest] input the model was trained on, from the recipe `load_checkpoint` attaches
    (min_length/max_length of a task, or the window of a language model); None if unknown."""
    recipe = getattr(model, "training_recipe", None) or {}
    if "min_length" in recipe and "max_length" in recipe:
        return [int(recipe["min_length"]), int(recipe["max_length"])]
    if "window" in recipe:  # windows of `window` tokens: the model reads window - 1 and predicts each next one
        return [1, int(recipe["window"]) - 1]
    return None


def input_unit(tokenize: Callable[[str], list[str]]) -> str:
    return {"characters": "symbols", "words": "words"}.get(tokenizer_name(tokenize), "tokens")


def known_symbols(vocabulary: Vocabulary) -> list[str]:
    return [t for t in vocabulary.tokens if t not in SPECIAL_TOKENS]


def example_symbols(symbols: list[str]) -> str:
    """The first EXAMPLE_SYMBOLS symbols that start with a letter or digit (the most frequent words)."""
    return ", ".join([symbol for symbol in symbols if symbol[:1].isalnum()][:EXAMPLE_SYMBOLS])


def input_hint(
    vocabulary: Vocabulary, max_len: int, extra: str = "", lengths: list[int] | None = None, unit: str = "tokens"
) -> str:
    """What the reader may type: the symbols (or how many, with examples), the lengths the model was
    trained on, and the most its positional table holds; then `extra`."""
    symbols = known_symbols(vocabulary)
    if len(symbols) <= LISTED_SYMBOLS:
        known = f"the model knows {' '.join(symbols)}"
    else:
        known = f"the model knows {len(symbols)} {unit}, such as {example_symbols(symbols)}"
    trained = f"; it was trained on {lengths[0]}–{lengths[1]} {unit} and may go wrong outside that" if lengths else ""
    first = f"Type your own input ({known}{trained}; at most {max_len}) and press Run."
    return f"{first} {extra}" if extra else first


def length_warning(count: int, lengths: list[int] | None, unit: str) -> str:
    """A warning when an input is shorter or longer than any the model was trained on ("" if not)."""
    if lengths is None or lengths[0] <= count <= lengths[1]:
        return ""
    return (
        f"The model was trained on inputs of {lengths[0]}–{lengths[1]} {unit}; this one has {count}, "
        "so its answer may well be wrong."
    )


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings, counted in code points (as the page counts them)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def similar_symbols(token: str, symbols: list[str]) -> list[str]:
    """Up to SIMILAR_SYMBOLS known symbols within SIMILAR_DISTANCE edits of `token`, closest first
    (then in vocabulary order: most frequent first). Lengths further apart than that are never
    within it, so a long paste is not compared letter by letter with every word."""
    scored = [
        (edit_distance(token, symbol), index)
        for index, symbol in enumerate(symbols)
        if abs(len(token) - len(symbol)) <= SIMILAR_DISTANCE
    ]
    close = sorted(pair for pair in scored if pair[0] <= SIMILAR_DISTANCE)
    return [symbols[index] for _, index in close[:SIMILAR_SYMBOLS]]


def splits_character(text: str, at: int) -> bool:
    """Whether cutting `text` before code point `at` splits what a reader sees as one character:
    before a combining mark (accents, variation selectors), a zero-width joiner or a skin-tone
    modifier, after a joiner, or between the two halves of a flag."""
    before, after = text[at - 1], text[at]
    if unicodedata.category(after).startswith("M") or ZERO_WIDTH_JOINER in (before, after):
        return True
    if "\U0001f3fb" <= after <= "\U0001f3ff":
        return True
    if regional_indicator(before) and regional_indicator(after):
        run = 0  # regional indicators pair up from the first of a run: a flag is two of them
        while at - 1 - run >= 0 and regional_indicator(text[at - 1 - run]):
            run += 1
        return run % 2 == 1
    return False


def regional_indicator(character: str) -> bool:
    return "\U0001f1e6" <= character <= "\U0001f1ff"


def excerpt(text: str, limit: int = EXCERPT_LENGTH) -> str:
    """`text` as an error quotes it: whole if it has at most `limit` code points, else its first ones
    and "…", `limit` in all, cut where no character is split (the page cuts it the same way)."""
    if len(text) <= limit:
        return text
    end = limit - 1
    while end > 1 and splits_character(text, end):
        end -= 1
    return text[:end] + "…"


def unknown_token_message(token: str, vocabulary: Vocabulary) -> str:
    """Why `token` cannot be read, and what the reader could type instead (the page says the same);
    a long token is quoted by its first characters."""
    symbols = known_symbols(vocabulary)
    quoted = excerpt(token)
    if len(symbols) <= LISTED_SYMBOLS:
        return f"“{quoted}” is not in the model's vocabulary; it knows {' '.join(symbols)}"
    similar = similar_symbols(token, symbols)
    if similar:
        return f"“{quoted}” is not in the model's vocabulary; similar ones it knows: {', '.join(similar)}"
    examples = example_symbols(symbols)
    return f"“{quoted}” is not in the model's vocabulary; it knows {len(symbols)}, such as {examples}"


def tokenizer_name(tokenize: Callable[[str], list[str]]) -> str | None:
    """The tokenizers the browser can mirror: "characters" or "words"; None for any other."""
    function = getattr(tokenize, "__func__", tokenize)
    if tokenize is list or function is CharTokenizer.split:
        return "characters"
    if function is WordTokenizer.split:
        return "words"
    return None


def check_input(tokens: list[str], vocabulary: Vocabulary, max_len: int, lengths: list[int] | None = None) -> list[int]:
    """Token ids of `tokens`, or a ValueError in the words the browser uses too (transformer.js)."""
    if not tokens:
        raise ValueError("the input is empty")
    for token in tokens:
        if token not in vocabulary.index or token in SPECIAL_TOKENS:
            raise ValueError(unknown_token_message(token, vocabulary))
    if len(tokens) > max_len:
        trained = f" (it was trained on {lengths[0]}–{lengths[1]})" if lengths else ""
        raise ValueError(
            f"the input has {len(tokens)} tokens; the model's positional table holds at most {max_len}{trained}"
        )
    return vocabulary.encode(tokens)


def run_error(text: str, problem: Exception) -> str:
    """The error line under the text box: a short quote of the input, then what is wrong with it."""
    message = problem.args[0] if problem.args else str(problem)
    return f"Could not run the model on “{excerpt(text)}”: {message}"


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
    lengths: list[int] | None = None,
) -> tuple[dict[str, tuple], str, list[int] | None]:
    """What the explorer shows for `text`, in float64 (so the 8-bit codes are the same on every CPU).

    Returns (kinds, title, output): kinds maps each kind of attention to (weights (layers, heads,
    rows, cols), row tokens, column tokens); output is an encoder-decoder's greedy output ids
    (before <eos>), None for the other models.
    """
    kind_of_model = architecture(model)
    tokens = tokenize(text)
    ids = torch.tensor([check_input(tokens, source_vocabulary, model.config.max_len, lengths)])
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


def model_payload(
    *arguments,
    start: tuple[str, int, int] | None = None,
    hint: str = "",
    lengths: list[int] | None = None,
    unit: str = "tokens",
) -> dict:
    """The explorer's payload: `model_attention(*arguments)`, packed (see lib/widget/payload.py),
    with a warning when the input's length is outside `lengths`, the ones the model was trained on."""
    kinds, title, _ = model_attention(*arguments, lengths=lengths)
    payload = make_payload(kinds, title=title, start=start, hint=hint)
    text, tokenize = arguments[1], arguments[4]
    warning = length_warning(len(tokenize(text)), lengths, unit)
    if warning:
        payload["warning"] = warning
    return payload


def stack(per_layer: list[torch.Tensor]) -> torch.Tensor:
    """[(1, heads, q, k)] * layers -> (layers, heads, q, k)."""
    return torch.cat(per_layer, dim=0)


__all__ = ["AttentionExplorer", "KIND_LABELS", "static_html"]
