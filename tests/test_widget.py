"""What the attention explorer embeds: right shapes and values, safe strings, small enough, no CDN.

How the page behaves (hostile text shown as text, the model run in the browser) is tested in
Chromium by tests/site/test_attention_explorer.py.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lib import Transformer, TransformerConfig
from lib.checkpoint import load_checkpoint
from lib.model import DecoderOnlyTransformer
from lib.tasks import task_vocabulary
from lib.tokenizers import Vocabulary, WordTokenizer
from lib.widget import AttentionExplorer, static_html
from lib.widget.explorer import check_input, tokenizer_name
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
    assert html.count("</script>") == 2  # the data block and the program, nothing injected
    data = re.search(r'class="attention-explorer-data">(.*?)</script>', html, re.S).group(1)
    assert json.loads(data)["kinds"]["encoder_self"]["rows"] == [evil, "</script>"]


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
    return json.loads(re.search(r'class="attention-explorer-model">(.*?)</script>', html, re.S).group(1))


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
        sizes[name] = sum(int(np.prod(shape)) for _, shape in spec["tensors"])
        if name == "tied":
            assert spec["aliases"] == {"generator.weight": "input.token_embedding.lookup.weight"}
    assert sizes["untied"] - sizes["tied"] == tied.config.vocab_size * tied.config.d_model


def test_the_browser_model_needs_a_tokenizer_it_can_mirror():
    assert tokenizer_name(list) == "characters" and tokenizer_name(WordTokenizer.split) == "words"
    vocabulary = task_vocabulary("reverse", num_symbols=6)
    model = Transformer(TransformerConfig.tiny(len(vocabulary))).eval()
    odd = AttentionExplorer.from_model(model, "abc", vocabulary, tokenize=lambda text: list(text.lower()))
    assert 'class="attention-explorer-model"' not in odd._repr_mimebundle_()[0]["text/html"]  # a fixed view only
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
    with pytest.raises(ValueError, match="the input has 5 tokens but the model's positional table holds at most 4"):
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
