"""The text generator widget: a decoder-only model continues the reader's text, in the page.

The reader types a prompt and chooses temperature, top-k, top-p, a seed and a length; the
model writes one token at a time with its key/value cache, and an attention explorer below
follows the text as it grows. Everything runs in the reader's browser (lib/widget/*.js: the
same forward pass and tokenizer as the attention explorer): on the static site with no kernel,
and in Jupyter on the kernel's model, whose weights the widget sends to the page when it is
shown (so a model trained further and shown again is the new one): they go by a message, not
in the widget's state, which the notebook stores.
"""

import html

import anywidget
import torch
import traitlets

from lib.widget.explorer import architecture
from lib.widget.page import CSS_SOURCE, RUNTIME_SOURCE, static_widget
from lib.widget.payload import encode_model

GENERATOR_ESM = RUNTIME_SOURCE + "\nexport default { render: renderGenerator };\n"
DEFAULT_SETTINGS = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "seed": 0, "length": 100}
# The range of each setting, as the page's fields take them (lib/widget/generator.js); top_k's upper
# end is the vocabulary's size.
SETTING_RANGES = {
    "temperature": (0, 5),
    "top_k": (0, None),
    "top_p": (0, 1),
    "seed": (0, 2**31 - 1),
    "length": (1, 1000),
}
WHOLE_NUMBER_SETTINGS = {"top_k", "seed", "length"}


class TextGenerator(anywidget.AnyWidget):
    """A prompt box, sampling settings, Run and Stop, the growing text and its attention."""

    _esm = GENERATOR_ESM
    _css = CSS_SOURCE
    prompt = traitlets.Unicode("").tag(sync=True)
    settings = traitlets.Dict().tag(sync=True)
    hint = traitlets.Unicode("").tag(sync=True)

    @classmethod
    def from_model(cls, model: torch.nn.Module, tokenizer, prompt: str = "", add_bos: bool = False, **settings):
        """`model` a lib DecoderOnlyTransformer, `tokenizer` the lib.bpe.BytePairTokenizer it was trained with.

        A `lib.chat.ChatTokenizer` makes it a chat: the prompt is a question in the chat template.
        `add_bos` puts <bos> before the prompt (if the model saw it at the start of each text in
        training; without it, an empty prompt starts from a new line); `settings` are the starting
        values of temperature, top_k (0: off), top_p (1: off), seed and length (new tokens).
        """
        if architecture(model) != "decoder-only":
            raise TypeError("the text generator continues text with a decoder-only model (lib.DecoderOnlyTransformer)")
        unknown = set(settings) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; use {sorted(DEFAULT_SETTINGS)}")
        saved = tokenizer.to_dict()  # a ChatTokenizer adds "added": its chat tokens, after the last merge
        chat = "added" in saved
        vocab_size = len(saved["specials"]) + 256 + len(saved["merges"]) + len(saved.get("added", []))
        if vocab_size != model.config.vocab_size:
            raise ValueError(
                f"the tokenizer has {vocab_size} tokens but the model's vocabulary has {model.config.vocab_size}"
            )
        check_settings(settings, vocab_size)
        spec = generator_spec(model, saved, add_bos, chat)
        hint = (
            f"Type any text and press Run: the model continues it, {model.config.max_len} tokens of context at most "
            f"(a vocabulary of {vocab_size} byte-level tokens, so any character works)."
        )
        if chat:
            hint = (
                "Ask a question and press Run: the page wraps it as <|user|> question <|assistant|>, and the model "
                "answers until it writes <|end|>."
            )
        return cls(spec, prompt=prompt, settings={**DEFAULT_SETTINGS, **settings}, hint=hint)

    def __init__(self, spec: dict, **traits):
        """`spec` is the model for the page (`generator_spec`): sent when the page asks, not kept in the
        widget's synced state, which a notebook stores (it would hold the weights a second time)."""
        super().__init__(**traits)
        self.spec = spec
        self.on_msg(self._answer)

    def _answer(self, _widget, content: dict, _buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "spec":
            self.send({"type": "spec", "spec": self.spec})

    def summary(self) -> str:
        config = self.spec["config"]
        return (
            f"TextGenerator(decoder-only: {config['num_decoder_layers']} layers x {config['num_heads']} heads, "
            f"{config['max_len']} tokens of context)"
        )

    def __repr__(self) -> str:
        return self.summary()

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle or {}, {})
        return {**data, "text/plain": self.summary(), "text/html": self.static_html()}, metadata

    def static_html(self) -> str:
        """The widget as a self-contained page fragment that runs with no kernel."""
        state = {"prompt": self.prompt, "settings": self.settings, "hint": self.hint}
        return static_widget(
            "renderGenerator", "text-generator-static", html.escape("Text generator"), state, self.spec
        )


def check_settings(settings: dict, vocab_size: int) -> None:
    """A ValueError naming the setting, its value and its range if a starting value is outside it."""
    for name, value in settings.items():
        low, high = SETTING_RANGES[name]
        high = vocab_size if high is None else high
        whole = name in WHOLE_NUMBER_SETTINGS
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or not low <= value <= high:
            kind = "a whole number" if whole else "a number"
            raise ValueError(f"{name} must be {kind} from {low} to {high}, not {value!r}")


def generator_spec(model: torch.nn.Module, saved_tokenizer: dict, add_bos: bool, chat: bool = False) -> dict:
    """The model and its tokenizer as the page runs them (lib/widget/payload.py's `encode_model`).

    `chat`: the page wraps the prompt in the chat template and stops at <|end|> (lib/chat.py).
    """
    settings = {
        "tokenize": "bpe",
        "bpe": saved_tokenizer,
        "source_tokens": [],
        "target_tokens": [],
        "add_bos": add_bos,
        "chat": chat,
        "max_length": model.config.max_len,
        "text": "",
    }
    return encode_model(model, "decoder-only", settings)
