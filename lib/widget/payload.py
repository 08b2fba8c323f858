"""The explorer's data: attention weights packed small enough to embed in a web page.

Weights lie in [0, 1], so each is stored as an 8-bit code round(255 w): the error is at
most 1/510, finer than the two decimals the explorer displays. Most weights of a long
sequence are near zero, so the codes are mostly 0 and 1 and deflate well; they are then
base64-encoded. The browser inflates them with its built-in DecompressionStream.

A page can also carry the model itself (`encode_model`), so that the reader's browser runs
it on new input (lib/widget/transformer.js). Its weights are stored exactly: as float32 (rounding
the book's reverse model to float16 changed its greedy output on about 1 % of random inputs), or
as float16 where every value of a tensor is a float16 already (a checkpoint saved in half
precision, like the GPT's). The bytes of the numbers are grouped by position (all first bytes,
then all second bytes, ...), which lets deflate squeeze the sign-and-exponent bytes, then written
in base85, a quarter smaller than base64.
"""

import base64
import dataclasses
import zlib

import numpy as np
import torch

from lib.tokenizers import BOS_ID, EOS_ID, SPECIAL_TOKENS
from lib.widget.page import content_key, json_for_html

KIND_LABELS = {
    "encoder_self": "encoder self-attention",
    "decoder_self": "decoder self-attention",
    "cross": "cross-attention (decoder → encoder)",
}
LEVELS = 255


def quantize(weights: np.ndarray) -> np.ndarray:
    """Weights in [0, 1] -> uint8 codes round(255 w)."""
    return np.rint(np.clip(weights, 0.0, 1.0) * LEVELS).astype(np.uint8)


def dequantize(codes: np.ndarray) -> np.ndarray:
    return codes.astype(np.float64) / LEVELS


def encode_kind(weights, row_tokens: list[str], col_tokens: list[str]) -> dict:
    """Pack one kind of attention: weights (layers, heads, rows, cols) or (heads, rows, cols)."""
    array = weights.detach().cpu().double().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(f"weights must have shape (layers, heads, rows, cols), got {array.shape}")
    layers, heads, rows, cols = array.shape
    if rows != len(row_tokens) or cols != len(col_tokens):
        raise ValueError(
            f"weights are {rows} x {cols} but there are {len(row_tokens)} row tokens "
            f"and {len(col_tokens)} column tokens"
        )
    if not np.isfinite(array).all():
        raise ValueError("weights contain NaN or infinity")
    if array.min() < -1e-6 or array.max() > 1 + 1e-6:
        raise ValueError(f"attention weights must lie in [0, 1], got values in [{array.min():.3g}, {array.max():.3g}]")
    data = base64.b64encode(zlib.compress(quantize(array).tobytes(), 9)).decode("ascii")
    return {
        "rows": [str(t) for t in row_tokens],
        "cols": [str(t) for t in col_tokens],
        "layers": layers,
        "heads": heads,
        "data": data,
    }


def make_payload(
    kinds: dict[str, tuple], title: str = "", start: tuple[str, int, int] | None = None, hint: str = ""
) -> dict:
    """kinds maps "encoder_self" / "decoder_self" / "cross" to (weights, row tokens, column tokens).

    `start` = (kind, layer, head), counted from 0, is the view the explorer opens on; `hint` is a
    line shown above it (what to try).
    """
    if not kinds:
        raise ValueError("nothing to show: give at least one kind of attention")
    unknown = set(kinds) - set(KIND_LABELS)
    if unknown:
        raise ValueError(f"unknown attention kinds {sorted(unknown)}; use {list(KIND_LABELS)}")
    packed = {}
    for name in KIND_LABELS:  # a fixed order, so the same input always gives the same page
        if name in kinds:
            packed[name] = {"label": KIND_LABELS[name], **encode_kind(*kinds[name])}
    payload = {"version": 1, "title": title, "kinds": packed}
    if hint:
        payload["hint"] = hint
    if start is not None:
        kind, layer, head = start
        if kind not in packed or not 0 <= layer < packed[kind]["layers"] or not 0 <= head < packed[kind]["heads"]:
            raise ValueError(f"start view {start} does not exist in this payload")
        payload["start"] = {"kind": kind, "layer": layer, "head": head}
    return payload


def decode_kind(entry: dict) -> np.ndarray:
    """The weights as the browser sees them: (layers, heads, rows, cols), after quantization."""
    codes = np.frombuffer(zlib.decompress(base64.b64decode(entry["data"])), dtype=np.uint8)
    shape = (entry["layers"], entry["heads"], len(entry["rows"]), len(entry["cols"]))
    return dequantize(codes.reshape(shape))


def encode_weights(values: np.ndarray) -> str:
    """float32 values -> "<dtype>:<text>": float16 when every value is exactly a float16 (a checkpoint
    stored in half precision loses nothing), float32 otherwise; the bytes grouped in planes (all first
    bytes, then all second bytes, ...), deflated, and written in base85 (5 characters per 4 bytes)."""
    values = np.asarray(values, dtype="<f4")
    half = values.astype("<f2")
    dtype = "float16" if np.array_equal(half.astype("<f4"), values) else "float32"
    exact = half if dtype == "float16" else values
    planes = np.ascontiguousarray(exact.view(np.uint8).reshape(-1, exact.itemsize).T)
    return f"{dtype}:{base85(zlib.compress(planes.tobytes(), 9))}"


def decode_weights(text: str) -> np.ndarray:
    """The float32 values the browser reads back from `encode_weights`' text."""
    dtype, data = text.split(":", 1)
    size = {"float16": 2, "float32": 4}[dtype]
    planes = np.frombuffer(zlib.decompress(base64.b85decode(data.replace(".", "<"))), dtype=np.uint8)
    values = np.ascontiguousarray(planes.reshape(size, -1).T).view("<f2" if size == 2 else "<f4").ravel()
    return values.astype("<f4")


def base85(data: bytes) -> str:
    """base64.b85encode with "." for "<", so that no "</script" can appear inside the page's <script>."""
    return base64.b85encode(data).decode("ascii").replace("<", ".")


def encode_model(model: torch.nn.Module, architecture: str, settings: dict) -> dict:
    """A lib transformer for the browser: its sizes and switches, and every weight, each shared one once.

    `architecture` is "encoder-decoder", "decoder-only" or "encoder-only"; `settings` (vocabularies,
    tokenizer, longest output, ...) is copied into the result as is. Each tensor is stored under a
    key made from its values (`weights` maps key -> text), so a page that shows two models with
    some equal tensors needs to carry them only once (lib/widget/page.py).
    """
    check_browser_supported(model)
    config = model.config
    tensors, aliases, weights, first_name = [], {}, {}, {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        pointer = (tensor.data_ptr(), tuple(tensor.shape))
        if pointer in first_name:  # a tied weight, such as the output layer sharing the embedding
            aliases[name] = first_name[pointer]
            continue
        first_name[pointer] = name
        values = tensor.detach().cpu().float().numpy().ravel()
        key = content_key("w", str(list(tensor.shape)).encode() + values.astype("<f4").tobytes())
        tensors.append([name, list(tensor.shape), key])
        weights[key] = encode_weights(values)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    return {
        "architecture": architecture,
        "config": {
            "d_model": config.d_model,
            "num_heads": config.num_heads,
            "d_ff": config.d_ff,
            "num_encoder_layers": config.num_encoder_layers,
            "num_decoder_layers": config.num_decoder_layers,
            "max_len": config.max_len,
            "positional": config.positional,
            "norm_first": config.norm_first,
            "final_norm": config.use_final_norm,
            "output_vocab_size": config.output_vocab_size,
            "pad_id": config.pad_id,
            "bos_id": getattr(config, "bos_id", BOS_ID),
            "eos_id": getattr(config, "eos_id", EOS_ID),
        },
        "layer_norm_eps": norms[0].eps if norms else 1e-5,
        "labels": KIND_LABELS,
        "special_tokens": list(SPECIAL_TOKENS),
        **settings,
        "tensors": tensors,
        "aliases": aliases,
        "weights": weights,
    }


# The parts of lib's models the page's JavaScript mirrors: anything else gets a clear error here,
# never a page that silently computes something else.
BROWSER_MODULES = (
    "Linear", "LayerNorm", "ReLU", "Dropout", "Embedding", "ModuleList", "MultiHeadAttention", "FeedForward",
    "EncoderLayer", "DecoderLayer", "Encoder", "Decoder", "CausalStack", "SelfAttentionStack",
    "TokenEmbedding", "InputLayer", "PositionalEncoding", "LearnedPositionalEmbedding", "SinusoidalPositionalEncoding",
    "RotaryEmbedding", "LengthCheck", "Identity", "Transformer", "DecoderOnlyTransformer", "EncoderOnlyTransformer",
)  # fmt: skip


BROWSER_CONFIG = (
    "vocab_size", "target_vocab_size", "d_model", "num_heads", "d_ff", "num_encoder_layers", "num_decoder_layers",
    "dropout", "max_len", "positional", "norm_first", "final_norm", "tie_embeddings", "pad_id", "bos_id", "eos_id",
    "init", "init_std", "depth_scaled_init",  # how training starts: nothing the page computes depends on them
)  # fmt: skip


def check_browser_supported(model: torch.nn.Module) -> None:
    """A clear error for a model (or a config switch) the page's JavaScript does not mirror."""
    unknown = sorted({type(m).__name__ for m in model.modules()} - set(BROWSER_MODULES))
    config = model.config
    unknown += [
        f"{field.name}={getattr(config, field.name)!r}"
        for field in dataclasses.fields(config)
        if field.name not in BROWSER_CONFIG and getattr(config, field.name) != field.default
    ]
    if unknown:
        raise ValueError(
            f"the page's JavaScript cannot run a model with {', '.join(unknown)} (lib/widget/transformer.js)"
        )


def decode_model(spec: dict, weights: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """The weights as the browser sees them, by state_dict name (`weights`: key -> text, if not in spec)."""
    weights = weights if weights is not None else spec["weights"]
    out = {}
    for name, shape, key in spec["tensors"]:
        out[name] = decode_weights(weights[key]).reshape(shape)
    for name, same in spec["aliases"].items():
        out[name] = out[same]
    return out


def payload_json_for_html(payload: dict) -> str:
    """JSON that is safe inside a <script> element: '<', '>' and '&' are written as \\u escapes."""
    return json_for_html(payload)
