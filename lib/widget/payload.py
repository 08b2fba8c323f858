"""The explorer's data: attention weights packed small enough to embed in a web page.

Weights lie in [0, 1], so each is stored as an 8-bit code round(255 w): the error is at
most 1/510, finer than the two decimals the explorer displays. Most weights of a long
sequence are near zero, so the codes are mostly 0 and 1 and deflate well; they are then
base64-encoded. The browser inflates them with its built-in DecompressionStream.

A page can also carry the model itself (`encode_model`), so that the reader's browser runs
it on new input (lib/widget/transformer.js). Its weights are stored as float32, exactly: float16
changed the greedy output of the book's reverse model on about 1 % of random inputs. The bytes
of the float32 numbers are grouped by position (all first bytes, then all second bytes, ...),
which lets deflate squeeze the sign-and-exponent bytes, then base64-encoded.
"""

import base64
import json
import zlib

import numpy as np
import torch

from lib.tokenizers import BOS_ID, EOS_ID, SPECIAL_TOKENS

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
    """float32 values -> byte planes (all first bytes, then all second bytes, ...), deflated, base64."""
    planes = np.ascontiguousarray(values.astype("<f4").view(np.uint8).reshape(-1, 4).T)
    return base64.b64encode(zlib.compress(planes.tobytes(), 9)).decode("ascii")


def decode_weights(text: str) -> np.ndarray:
    planes = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)
    return np.ascontiguousarray(planes.reshape(4, -1).T).view("<f4").ravel()


def encode_model(model: torch.nn.Module, architecture: str, settings: dict) -> dict:
    """A lib transformer for the browser: its sizes and switches, and every weight, each shared one once.

    `architecture` is "encoder-decoder", "decoder-only" or "encoder-only"; `settings` (vocabularies,
    tokenizer, longest output, ...) is copied into the result as is.
    """
    config = model.config
    tensors, aliases, chunks, first_name = [], {}, [], {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key in first_name:  # a tied weight, such as the output layer sharing the embedding
            aliases[name] = first_name[key]
            continue
        first_name[key] = name
        tensors.append([name, list(tensor.shape)])
        chunks.append(tensor.detach().cpu().float().numpy().ravel())
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
        "weights": encode_weights(np.concatenate(chunks)),
    }


def decode_model(spec: dict) -> dict[str, np.ndarray]:
    """The weights as the browser sees them, by state_dict name."""
    values = decode_weights(spec["weights"])
    out, offset = {}, 0
    for name, shape in spec["tensors"]:
        size = int(np.prod(shape))
        out[name] = values[offset : offset + size].reshape(shape)
        offset += size
    for name, same in spec["aliases"].items():
        out[name] = out[same]
    return out


def payload_json_for_html(payload: dict) -> str:
    """JSON that is safe inside a <script> element: '<', '>' and '&' are written as \\u escapes."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
