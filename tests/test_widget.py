"""What the attention explorer embeds: right shapes and values, safe strings, small enough, no CDN."""

import json
import re

import numpy as np
import pytest
import torch

from lib import Transformer, TransformerConfig
from lib.tasks import task_vocabulary
from lib.widget import AttentionExplorer, static_html
from lib.widget.payload import decode_kind, make_payload, payload_json_for_html


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
    assert "innerHTML" not in html  # the program writes text only


def test_payload_json_escapes_markup_characters():
    assert payload_json_for_html({"t": "<b>&</b>"}) == '{"t":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e"}'


def test_page_needs_no_network():
    html = static_html(make_payload({"encoder_self": (random_weights(1, 1, 3, 3), list("abc"), list("abc"))}))
    assert not re.search(r"https?://", html)
    assert "<script src" not in html


def test_256_tokens_6_layers_8_heads_fit_in_2_megabytes():
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=40, d_model=64, num_heads=8, num_encoder_layers=6, max_len=256)
    model = Transformer(config).eval()
    tokens = torch.randint(4, 40, (1, 256))
    with torch.no_grad():
        memory, _, weights = model.encode(tokens, need_weights=True)
    labels = [f"t{int(t)}" for t in tokens[0]]
    html = static_html(make_payload({"encoder_self": (torch.cat(weights), labels, labels)}))
    assert len(html.encode()) <= 2_000_000


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
    assert "the input is empty" in explorer.error
    assert explorer.payload["kinds"]["encoder_self"]["rows"] == list("fedcb")  # last good view stays


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
