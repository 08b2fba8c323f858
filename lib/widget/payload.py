"""The explorer's data: attention weights packed small enough to embed in a web page.

Weights lie in [0, 1], so each is stored as an 8-bit code round(255 w): the error is at
most 1/510, finer than the two decimals the explorer displays. Most weights of a long
sequence are near zero, so the codes are mostly 0 and 1 and deflate well; they are then
base64-encoded. The browser inflates them with its built-in DecompressionStream.
"""

import base64
import json
import zlib

import numpy as np
import torch

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


def make_payload(kinds: dict[str, tuple], title: str = "", start: tuple[str, int, int] | None = None) -> dict:
    """kinds maps "encoder_self" / "decoder_self" / "cross" to (weights, row tokens, column tokens).

    `start` = (kind, layer, head), counted from 0, is the view the explorer opens on.
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


def payload_json_for_html(payload: dict) -> str:
    """JSON that is safe inside a <script> element: '<', '>' and '&' are written as \\u escapes."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
