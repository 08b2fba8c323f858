"""What the attention explorer embeds: right shapes and values, safe strings, small enough, no CDN.

How the page behaves (hostile text shown as text, the model run in the browser) is tested in
Chromium by tests/site/test_attention_explorer.py.
"""

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lib import Transformer, TransformerConfig
from lib.bpe import BytePairTokenizer
from lib.checkpoint import load_checkpoint
from lib.model import DecoderOnlyTransformer, EncoderOnlyTransformer
from lib.tasks import task_vocabulary
from lib.tokenizers import Vocabulary, WordTokenizer
from lib.widget import AttentionExplorer, TextGenerator, static_html
from lib.widget.explorer import check_input, excerpt, run_error, tokenizer_name
from lib.widget.generator import GENERATOR_ESM
from lib.widget.page import RUNTIME_KEY, RUNTIME_SOURCE, deduplicate_shared_blocks
from lib.widget.payload import decode_kind, decode_model, make_payload, payload_json_for_html

CHECKPOINTS = Path(__file__).resolve().parent.parent / "chapters" / "checkpoints"


def random_weights(*shape) -> torch.Tensor:
    return torch.softmax(torch.randn(*shape) * 3, dim=-1)


def test_embedded_weights_round_trip_within_quantization_error():
    weights = random_weights(2, 3, 5, 7)
    payload = make_payload({"cross": (weights, list("abcde"), list("vwxyzpq"))})
    decoded = decode_kind(payload["kinds"]["cross"])
    assert decoded.shape == (2, 3, 5, 7)
    assert decoded.min() >= 0 and decoded.max() <= 1
    error = np.abs(decoded - weights.double().numpy())
    assert error.max() <= 1 / 510 + 1e-9  # half a step of 1/255: invisible at two decimals


def test_mismatched_tokens_and_weights_raise_clear_errors():
    with pytest.raises(ValueError, match="weights are 5 x 5 but there are 4 row tokens"):
        make_payload({"encoder_self": (random_weights(1, 2, 5, 5), list("abcd"), list("abcde"))})
    with pytest.raises(ValueError, match="must have shape \\(layers, heads, rows, cols\\)"):
        make_payload({"encoder_self": (random_weights(5, 5), list("abcde"), list("abcde"))})
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        make_payload({"encoder_self": (torch.full((1, 1, 2, 2), 2.0), list("ab"), list("ab"))})
    with pytest.raises(ValueError, match="unknown attention kinds \\['self'\\]"):
        make_payload({"self": (random_weights(1, 1, 2, 2), list("ab"), list("ab"))})


def test_tokens_cannot_break_out_of_the_page():
    evil = "<img src=x onerror=alert(1)>"
    html = static_html(make_payload({"encoder_self": (random_weights(1, 1, 2, 2), [evil, "</script>"], ["a", "b"])}))
    assert "<img" not in html
    assert html.count("</script>") == 3  # the runtime, the data block and the program, nothing injected
    data = re.search(r'class="transformer-book-state">(.*?)</script>', html, re.S).group(1)
    assert json.loads(data)["payload"]["kinds"]["encoder_self"]["rows"] == [evil, "</script>"]


def test_payload_json_escapes_markup_characters():
    assert payload_json_for_html({"t": "<b>&</b>"}) == '{"t":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e"}'


def test_page_needs_no_network():
    html = static_html(make_payload({"encoder_self": (random_weights(1, 1, 3, 3), list("abc"), list("abc"))}))
    assert not re.search(r"https?://", html)
    assert "<script src" not in html


def test_256_tokens_6_layers_8_heads_fit_in_2_megabytes():
    """Weights spread over the 8-bit codes, the hardest case for deflate (an untrained model's
    near-uniform weights are all one code and would pass trivially)."""
    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(6, 8, 256, 256) * 2, dim=-1)
    labels = [f"t{i}" for i in range(256)]
    payload = make_payload({"encoder_self": (weights, labels, labels)})
    assert weights.amax(-1).mean() > 40 / 256  # rows far from uniform (1/256 each)
    size = len(static_html(payload).encode())
    assert size > 750_000  # hard to compress: the bound below is a real test
    assert size <= 2_000_000


def reverse_explorer(**options) -> AttentionExplorer:
    model, _ = load_checkpoint(CHECKPOINTS / "reverse.pt")
    return AttentionExplorer.from_model(model, "abcdefgh", task_vocabulary("reverse", 10), max_length=16, **options)


def embedded_model(html: str) -> dict:
    """The model a widget's HTML carries, with its weights gathered from their blocks."""
    spec = json.loads(re.search(r'class="transformer-book-model">(.*?)</script>', html, re.S).group(1))
    blocks = dict(
        re.findall(r'<script type="application/octet-stream" data-transformer-book="([^"]+)">(.*?)</script>', html)
    )
    return {**spec, "weights": {key: blocks[key] for _, _, key in spec["tensors"]}}


def test_the_trained_model_adds_at_most_1_megabyte_and_its_weights_exactly():
    model, _ = load_checkpoint(CHECKPOINTS / "reverse.pt")
    html = reverse_explorer()._repr_mimebundle_()[0]["text/html"]
    without_model = static_html(reverse_explorer().payload)
    assert len(html.encode()) - len(without_model.encode()) <= 1_000_000
    weights = decode_model(embedded_model(html))
    state = model.state_dict()
    assert set(weights) == set(state)
    for name, tensor in state.items():
        assert np.array_equal(weights[name], tensor.numpy()), name  # float32, bit for bit


def test_a_tied_weight_is_embedded_once():
    tied, _ = load_checkpoint(CHECKPOINTS / "words-tied.pt")
    untied, _ = load_checkpoint(CHECKPOINTS / "words-untied.pt")
    vocabulary = Vocabulary([f"w{i}" for i in range(tied.config.vocab_size - 4)])
    sizes = {}
    for name, model in (("tied", tied), ("untied", untied)):
        explorer = AttentionExplorer.from_model(model, "w1 w2", vocabulary, tokenize=WordTokenizer.split)
        spec = embedded_model(explorer._repr_mimebundle_()[0]["text/html"])
        sizes[name] = sum(int(np.prod(shape)) for _, shape, _ in spec["tensors"])
        if name == "tied":
            assert spec["aliases"] == {"generator.weight": "input.token_embedding.lookup.weight"}
    assert sizes["untied"] - sizes["tied"] == tied.config.vocab_size * tied.config.d_model


def test_the_browser_model_needs_a_tokenizer_it_can_mirror():
    assert tokenizer_name(list) == "characters" and tokenizer_name(WordTokenizer.split) == "words"
    vocabulary = task_vocabulary("reverse", num_symbols=6)
    model = Transformer(TransformerConfig.tiny(len(vocabulary))).eval()
    odd = AttentionExplorer.from_model(model, "abc", vocabulary, tokenize=lambda text: list(text.lower()))
    assert 'class="transformer-book-model"' not in odd._repr_mimebundle_()[0]["text/html"]  # a fixed view only
    decoder_only = DecoderOnlyTransformer(TransformerConfig.tiny(len(vocabulary))).eval()
    explorer = AttentionExplorer.from_model(decoder_only, "abc", vocabulary)
    assert embedded_model(explorer._repr_mimebundle_()[0]["text/html"])["architecture"] == "decoder-only"


def test_input_checks_name_the_problem():
    vocabulary = task_vocabulary("reverse", num_symbols=3)
    assert check_input(list("cab"), vocabulary, 4) == vocabulary.encode(list("cab"))
    with pytest.raises(ValueError, match="^the input is empty$"):
        check_input([], vocabulary, 4)
    with pytest.raises(ValueError, match="^“z” is not in the model's vocabulary; it knows a b c$"):
        check_input(list("abz"), vocabulary, 4)
    with pytest.raises(ValueError, match="^“<eos>” is not in the model's vocabulary"):
        check_input(["a", "<eos>"], vocabulary, 4)
    with pytest.raises(ValueError, match="^the input has 5 tokens; the model's positional table holds at most 4$"):
        check_input(list("abcab"), vocabulary, 4)


def test_mimebundle_has_a_live_view_a_static_page_and_a_stable_summary():
    explorer = AttentionExplorer.from_weights(random_weights(2, 4, 3, 3), list("abc"))
    data, _ = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/html"].startswith('<div class="attention-explorer-static"')
    assert data["text/plain"] == "AttentionExplorer(encoder self-attention: 2 layers x 4 heads)"


def test_text_box_reruns_the_model_and_reports_bad_input():
    vocabulary = task_vocabulary("reverse", num_symbols=6)
    model = Transformer(TransformerConfig(vocab_size=len(vocabulary), d_model=16, num_heads=2, d_ff=16)).eval()
    explorer = AttentionExplorer.from_model(model, "abc", vocabulary, max_length=5)
    assert explorer.live and explorer.payload["kinds"]["encoder_self"]["rows"] == ["a", "b", "c"]
    explorer.text = "fedcb"
    assert explorer.payload["kinds"]["encoder_self"]["rows"] == list("fedcb")
    assert explorer.error == ""
    explorer.text = ""
    assert explorer.error == "Could not run the model on “”: the input is empty"
    assert explorer.payload["kinds"]["encoder_self"]["rows"] == list("fedcb")  # last good view stays
    explorer.text = "abz"
    assert (
        explorer.error == "Could not run the model on “abz”: “z” is not in the model's vocabulary; it knows a b c d e f"
    )
    assert explorer.payload["kinds"]["encoder_self"]["rows"] == list("fedcb")


def test_same_model_and_input_give_the_same_page():
    vocabulary = task_vocabulary("reverse", num_symbols=6)
    model = Transformer(TransformerConfig(vocab_size=len(vocabulary), d_model=16, num_heads=2, d_ff=16)).eval()
    first = AttentionExplorer.from_model(model, "abcd", vocabulary)._repr_mimebundle_()[0]["text/html"]
    second = AttentionExplorer.from_model(model, "abcd", vocabulary)._repr_mimebundle_()[0]["text/html"]
    assert first == second


def test_start_view_is_recorded_and_checked():
    weights = random_weights(2, 4, 3, 3)
    payload = make_payload({"cross": (weights, list("abc"), list("abc"))}, start=("cross", 1, 3))
    assert payload["start"] == {"kind": "cross", "layer": 1, "head": 3}
    with pytest.raises(ValueError, match="start view \\('cross', 2, 0\\) does not exist"):
        make_payload({"cross": (weights, list("abc"), list("abc"))}, start=("cross", 2, 0))


def test_hint_names_the_trained_lengths_and_a_large_vocabulary_by_examples():
    hint = reverse_explorer().payload["hint"]
    assert hint.startswith(
        "Type your own input (the model knows a b c d e f g h i j; it was trained on 4–12 symbols and may go wrong "
        "outside that; at most 32) and press Run."
    )
    words, _ = load_checkpoint(CHECKPOINTS / "words-tied.pt")
    vocabulary = Vocabulary([f"w{i}" for i in range(words.config.vocab_size - 4)])
    explorer = AttentionExplorer.from_model(words, "w1 w2", vocabulary, tokenize=WordTokenizer.split)
    assert explorer.payload["hint"] == (
        f"Type your own input (the model knows {words.config.vocab_size - 4} words, such as w0, w1, w2, w3, w4, w5, "
        "w6, w7; it was trained on 1–32 words and may go wrong outside that; at most 64) and press Run."
    )


def test_an_unknown_word_gets_similar_known_ones_and_a_length_outside_training_a_warning():
    vocabulary = Vocabulary([f"word{i}" for i in range(50)] + ["help", "hello", "yellow"])
    with pytest.raises(
        ValueError, match="^“helo” is not in the model's vocabulary; similar ones it knows: help, hello$"
    ):
        check_input(["helo"], vocabulary, 8)
    with pytest.raises(ValueError, match="; it knows 53, such as word0, word1, .*, word7$"):
        check_input(["😀"], vocabulary, 8)
    with pytest.raises(ValueError, match=r"holds at most 8 \(it was trained on 2–4\)$"):
        check_input(["help"] * 9, vocabulary, 8, lengths=[2, 4])
    explorer = reverse_explorer()
    assert "warning" not in explorer.payload
    explorer.text = "abcdefghijabcdefg"  # 17 letters: it fits the table, but the model saw at most 12
    assert explorer.error == ""
    assert explorer.payload["warning"] == (
        "The model was trained on inputs of 4–12 symbols; this one has 17, so its answer may well be wrong."
    )


def test_a_page_keeps_one_copy_of_the_runtime_and_of_each_shared_tensor():
    sort_model, _ = load_checkpoint(CHECKPOINTS / "sort.pt")
    vocabulary = task_vocabulary("sort", 10)
    encoder_only = EncoderOnlyTransformer(sort_model.config).eval()
    state = sort_model.state_dict()
    weights = {k.replace("source_input.", "input.").replace("encoder.", "layers."): v for k, v in state.items()}
    weights = {k: v for k, v in weights.items() if k.startswith(("input.", "layers."))}
    weights |= {k.replace("generator.", "head."): v for k, v in state.items() if k.startswith("generator.")}
    encoder_only.load_state_dict(weights)
    pages = [
        AttentionExplorer.from_model(model, "hdbagcfe", vocabulary)._repr_mimebundle_()[0]["text/html"]
        for model in (sort_model, encoder_only)
    ]
    together = "".join(pages)
    deduplicated = deduplicate_shared_blocks(together)
    assert deduplicated.count(f'<script data-transformer-book="{RUNTIME_KEY}">') == 1
    assert together.count(f'<script data-transformer-book="{RUNTIME_KEY}">') == 2
    encoder_size = sum(t.numel() * 4 for k, t in encoder_only.state_dict().items() if not k.startswith("head."))
    assert len(together) - len(deduplicated) > len(RUNTIME_SOURCE) + encoder_size // 2  # deflated float32
    assert deduplicate_shared_blocks(pages[0]) == pages[0]


def test_the_page_refuses_a_model_it_does_not_mirror():
    vocabulary = task_vocabulary("reverse", num_symbols=6)
    model = DecoderOnlyTransformer(TransformerConfig.tiny(len(vocabulary))).eval()
    model.layers.layers[0].feed_forward.linear1 = torch.nn.Sequential(model.layers.layers[0].feed_forward.linear1)
    with pytest.raises(ValueError, match="cannot run a model with Sequential"):
        AttentionExplorer.from_model(model, "abc", vocabulary)._repr_mimebundle_()


def test_text_generator_checks_its_model_and_tokenizer():
    tokenizer = BytePairTokenizer().train("the cat sat on the mat, the cat ate the rat " * 20, 270)
    config = TransformerConfig(vocab_size=tokenizer.vocab_size, d_model=16, num_heads=2, d_ff=32, max_len=16)
    generator = TextGenerator.from_model(DecoderOnlyTransformer(config).eval(), tokenizer, "the cat", top_k=5)
    data, _ = generator._repr_mimebundle_()
    assert data["text/plain"] == "TextGenerator(decoder-only: 2 layers x 2 heads, 16 tokens of context)"
    assert data["text/html"].startswith('<div class="text-generator-static"')
    assert generator.settings["top_k"] == 5 and embedded_model(data["text/html"])["bpe"] == tokenizer.to_dict()
    with pytest.raises(ValueError, match="the tokenizer has 270 tokens but the model's vocabulary has 271"):
        TextGenerator.from_model(DecoderOnlyTransformer(replace(config, vocab_size=271)), tokenizer)
    with pytest.raises(TypeError, match="decoder-only"):
        TextGenerator.from_model(Transformer(config), tokenizer)
    with pytest.raises(ValueError, match="unknown settings \\['top_n'\\]"):
        TextGenerator.from_model(DecoderOnlyTransformer(config), tokenizer, top_n=3)


def test_text_generator_sends_its_weights_when_asked_not_in_its_state():
    """A notebook stores each widget's synced state: the weights must not be stored there a second time."""
    tokenizer = BytePairTokenizer().train("the cat sat on the mat, the cat ate the rat " * 20, 270)
    config = TransformerConfig(vocab_size=tokenizer.vocab_size, d_model=16, num_heads=2, d_ff=32, max_len=16)
    generator = TextGenerator.from_model(DecoderOnlyTransformer(config).eval(), tokenizer)
    state = json.dumps(generator.get_state(), default=str)
    assert len(state) < len(json.dumps(GENERATOR_ESM)) + 10_000  # the code (JSON-escaped), prompt and settings only
    assert not any(text[:40] in state for text in generator.spec["weights"].values())
    sent = []
    generator.send = sent.append
    generator._answer(generator, {"type": "spec"}, [])
    generator._answer(generator, {"type": "something else"}, [])
    assert sent == [{"type": "spec", "spec": generator.spec}]


def test_text_generator_refuses_starting_settings_outside_their_ranges():
    """The page's fields replace a value outside a range by the one used; from Python it is refused."""
    tokenizer = BytePairTokenizer().train("the cat sat on the mat, the cat ate the rat " * 20, 262)
    config = TransformerConfig(vocab_size=tokenizer.vocab_size, d_model=16, num_heads=2, d_ff=32, max_len=16)
    model = DecoderOnlyTransformer(config).eval()
    assert TextGenerator.from_model(model, tokenizer, temperature=0, top_k=262, top_p=1, length=1000).settings
    for setting, value, message in [
        ("length", 0, "length must be a whole number from 1 to 1000, not 0"),
        ("length", 5000, "length must be a whole number from 1 to 1000, not 5000"),
        ("length", 2.5, "length must be a whole number from 1 to 1000, not 2.5"),
        ("temperature", -1, "temperature must be a number from 0 to 5, not -1"),
        ("top_p", 7, "top_p must be a number from 0 to 1, not 7"),
        ("top_k", 263, "top_k must be a whole number from 0 to 262, not 263"),
        ("seed", -1, "seed must be a whole number from 0 to 2147483647, not -1"),
    ]:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            TextGenerator.from_model(model, tokenizer, **{setting: value})


def test_an_error_quotes_a_short_excerpt_cut_between_characters():
    assert excerpt("abc") == "abc" and excerpt("a" * 20) == "a" * 20
    assert excerpt("a" * 5000) == "a" * 19 + "…"
    assert excerpt("e\u0301" * 30) == "e\u0301" * 9 + "…"  # never an accent without its letter
    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points, one emoji
    assert excerpt(family * 10) == family * 2 + "…"
    assert excerpt("\U0001f1eb\U0001f1f7" * 20) == "\U0001f1eb\U0001f1f7" * 9 + "…"  # whole flags
    thumb = "x\U0001f44d\U0001f3fd"  # the 20th code point is a skin tone: it stays with its hand
    assert excerpt("ab" + thumb * 20) == "ab" + thumb * 5 + "x…"
    assert (
        run_error("z" * 5000, ValueError("the input is too long"))
        == f"Could not run the model on “{'z' * 19}…”: the input is too long"
    )
