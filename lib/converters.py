"""Hugging Face state dicts of GPT-2, BERT and Llama, loaded into lib's models.

A state dict is a plain dict from names to tensors, the form `torch.load` or
`safetensors.torch.load_file` returns for a downloaded checkpoint. The names differ from
lib's, and so, in three places, does the layout:

- GPT-2 stores its linear maps as `Conv1D`, (in, out) where `nn.Linear` has (out, in): transposed.
- BERT and Llama keep query, key and value as three matrices; lib stacks them into one `in_proj`.
- Llama rotates the dimension pairs (i, i + head_dim/2) of each head; lib rotates (2i, 2i + 1).
  Reordering the rows of W_Q and W_K the same way inside each head changes nothing else: the
  dot product of a query and a key is a sum over dimensions, in any order.

Each converter checks the family, every key and every shape, and names what does not fit.
This module never imports `transformers`; the book never downloads anything. A reader with
network access can run, for example::

    from safetensors.torch import load_file
    from lib import presets
    from lib.converters import gpt2_from_hf
    model = gpt2_from_hf(load_file("model.safetensors"), presets.gpt2())  # the 124 M GPT-2
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lib.config import TransformerConfig
from lib.model import DecoderOnlyTransformer, EncoderOnlyTransformer

Transform = Callable[[Tensor, TransformerConfig], Tensor]


def transpose(weight: Tensor, config: TransformerConfig) -> Tensor:
    """GPT-2's Conv1D weight (in, out) -> nn.Linear's (out, in)."""
    return weight.t()


def interleave_rotary_pairs(weight: Tensor, config: TransformerConfig) -> Tensor:
    """Rows of a Llama W_Q or W_K, (heads * head_dim, d_model), reordered per head for lib's rotary pairs.

    lib's row 2i of a head is Llama's row i, and lib's row 2i + 1 is Llama's row head_dim/2 + i.
    """
    half = config.head_dim // 2
    order = torch.stack([torch.arange(half), torch.arange(half) + half], dim=1).flatten()  # 0, h, 1, h+1, ...
    heads = weight.size(0) // config.head_dim
    return weight.view(heads, config.head_dim, -1)[:, order].reshape(weight.shape)


@dataclass
class Family:
    """How one family's key names map to lib's: regular expressions, tried in order."""

    name: str
    signature: str  # a key only this family's state dicts have (after the prefixes are removed)
    prefixes: tuple[str, ...]  # removed from the front of every key, e.g. "transformer."
    rules: list[tuple[str, str, Transform | None]]  # (pattern, lib key, transform)
    ignored: tuple[str, ...] = ()  # keys lib has no use for: buffers, or heads lib does not model


GPT2 = Family(
    "GPT-2",
    signature="wte.weight",
    prefixes=("transformer.",),
    rules=[
        (r"wte\.weight", "input.token_embedding.lookup.weight", None),
        (r"wpe\.weight", "input.positions.lookup.weight", None),
        (r"h\.(\d+)\.ln_1\.(weight|bias)", r"layers.layers.\1.norm1.\2", None),
        (r"h\.(\d+)\.attn\.c_attn\.weight", r"layers.layers.\1.self_attn.in_proj.weight", transpose),
        (r"h\.(\d+)\.attn\.c_attn\.bias", r"layers.layers.\1.self_attn.in_proj.bias", None),
        (r"h\.(\d+)\.attn\.c_proj\.weight", r"layers.layers.\1.self_attn.out_proj.weight", transpose),
        (r"h\.(\d+)\.attn\.c_proj\.bias", r"layers.layers.\1.self_attn.out_proj.bias", None),
        (r"h\.(\d+)\.ln_2\.(weight|bias)", r"layers.layers.\1.norm2.\2", None),
        (r"h\.(\d+)\.mlp\.c_fc\.weight", r"layers.layers.\1.feed_forward.linear1.weight", transpose),
        (r"h\.(\d+)\.mlp\.c_fc\.bias", r"layers.layers.\1.feed_forward.linear1.bias", None),
        (r"h\.(\d+)\.mlp\.c_proj\.weight", r"layers.layers.\1.feed_forward.linear2.weight", transpose),
        (r"h\.(\d+)\.mlp\.c_proj\.bias", r"layers.layers.\1.feed_forward.linear2.bias", None),
        (r"ln_f\.(weight|bias)", r"layers.norm.\1", None),
        (r"lm_head\.weight", "generator.weight", None),
    ],
    ignored=(r"h\.\d+\.attn\.(bias|masked_bias)",),  # the causal mask, stored as a buffer by old versions
)

BERT = Family(
    "BERT",
    signature="embeddings.word_embeddings.weight",
    prefixes=("bert.",),
    rules=[
        (r"embeddings\.word_embeddings\.weight", "input.token_embedding.lookup.weight", None),
        (r"embeddings\.position_embeddings\.weight", "input.positions.lookup.weight", None),
        (r"embeddings\.token_type_embeddings\.weight", "input.token_types.weight", None),
        (r"embeddings\.LayerNorm\.(weight|bias)", r"input.norm.\1", None),
        (
            r"encoder\.layer\.(\d+)\.attention\.self\.query\.(weight|bias)",
            r"layers.layers.\1.self_attn.in_proj.\2#0",
            None,
        ),
        (
            r"encoder\.layer\.(\d+)\.attention\.self\.key\.(weight|bias)",
            r"layers.layers.\1.self_attn.in_proj.\2#1",
            None,
        ),
        (
            r"encoder\.layer\.(\d+)\.attention\.self\.value\.(weight|bias)",
            r"layers.layers.\1.self_attn.in_proj.\2#2",
            None,
        ),
        (
            r"encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)",
            r"layers.layers.\1.self_attn.out_proj.\2",
            None,
        ),
        (r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(weight|bias)", r"layers.layers.\1.norm1.\2", None),
        (
            r"encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)",
            r"layers.layers.\1.feed_forward.linear1.\2",
            None,
        ),
        (r"encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)", r"layers.layers.\1.feed_forward.linear2.\2", None),
        (r"encoder\.layer\.(\d+)\.output\.LayerNorm\.(weight|bias)", r"layers.layers.\1.norm2.\2", None),
        (r"cls\.predictions\.transform\.dense\.(weight|bias)", r"head_transform.dense.\1", None),
        (r"cls\.predictions\.transform\.LayerNorm\.(weight|bias)", r"head_transform.norm.\1", None),
        (r"cls\.predictions\.decoder\.weight", "head.weight", None),
        (r"cls\.predictions\.(decoder\.)?bias", "head.bias", None),
    ],
    # position_ids is a buffer; the pooler and next-sentence head serve BERT's second pre-training task,
    # which lib's encoder-only model does not have.
    ignored=(r"embeddings\.position_ids", r"pooler\..*", r"cls\.seq_relationship\..*"),
)

LLAMA = Family(
    "Llama",
    signature="embed_tokens.weight",
    prefixes=("model.",),
    rules=[
        (r"embed_tokens\.weight", "input.token_embedding.lookup.weight", None),
        (
            r"layers\.(\d+)\.self_attn\.q_proj\.weight",
            r"layers.layers.\1.self_attn.in_proj.weight#0",
            interleave_rotary_pairs,
        ),
        (
            r"layers\.(\d+)\.self_attn\.k_proj\.weight",
            r"layers.layers.\1.self_attn.in_proj.weight#1",
            interleave_rotary_pairs,
        ),
        (r"layers\.(\d+)\.self_attn\.v_proj\.weight", r"layers.layers.\1.self_attn.in_proj.weight#2", None),
        (r"layers\.(\d+)\.self_attn\.o_proj\.weight", r"layers.layers.\1.self_attn.out_proj.weight", None),
        (r"layers\.(\d+)\.mlp\.gate_proj\.weight", r"layers.layers.\1.feed_forward.gate.weight", None),
        (r"layers\.(\d+)\.mlp\.up_proj\.weight", r"layers.layers.\1.feed_forward.linear1.weight", None),
        (r"layers\.(\d+)\.mlp\.down_proj\.weight", r"layers.layers.\1.feed_forward.linear2.weight", None),
        (r"layers\.(\d+)\.input_layernorm\.weight", r"layers.layers.\1.norm1.weight", None),
        (r"layers\.(\d+)\.post_attention_layernorm\.weight", r"layers.layers.\1.norm2.weight", None),
        (r"norm\.weight", "layers.norm.weight", None),
        (r"lm_head\.weight", "generator.weight", None),
    ],
    ignored=(r"layers\.\d+\.self_attn\.rotary_emb\.inv_freq",),  # a buffer of old versions
)

FAMILIES = (GPT2, BERT, LLAMA)


def gpt2_from_hf(state: Mapping[str, Tensor], config: TransformerConfig) -> DecoderOnlyTransformer:
    """A lib model holding the weights of a Hugging Face GPT-2 (`GPT2LMHeadModel` or `GPT2Model`)."""
    return load_family(DecoderOnlyTransformer(config), state, GPT2)


def bert_from_hf(state: Mapping[str, Tensor], config: TransformerConfig) -> EncoderOnlyTransformer:
    """A lib model holding the weights of a Hugging Face `BertForMaskedLM`."""
    return load_family(EncoderOnlyTransformer(config), state, BERT)


def llama_from_hf(state: Mapping[str, Tensor], config: TransformerConfig) -> DecoderOnlyTransformer:
    """A lib model holding the weights of a Hugging Face `LlamaForCausalLM`."""
    return load_family(DecoderOnlyTransformer(config), state, LLAMA)


def load_family(model: nn.Module, state: Mapping[str, Tensor], family: Family) -> nn.Module:
    """Convert `state` by `family`'s rules and load it into `model`, refusing anything that does not fit."""
    converted = convert_state_dict(state, family, model.config)
    dtypes = {tensor.dtype for tensor in converted.values() if tensor.is_floating_point()}
    if len(dtypes) == 1:
        model.to(dtypes.pop())  # loading into float32 parameters would round a float64 or keep bfloat16 wide
    expected = model.state_dict()
    tied = tied_keys(model)
    for key, source in tied.items():  # the output shares the embedding: a checkpoint may omit it
        if key not in converted and source in converted:
            converted[key] = converted[source]
    extra = sorted(set(converted) - set(expected))
    if extra:
        raise KeyError(f"{family.name} state dict has weights lib's model (this config) has no place for: {extra[:6]}")
    missing = sorted(set(expected) - set(converted))
    if missing:
        raise KeyError(f"{family.name} state dict lacks weights for lib's {missing[:6]}; does the config match it?")
    for key, tensor in converted.items():
        if tensor.shape != expected[key].shape:
            raise ValueError(
                f"{family.name} weight for lib's {key} has shape {tuple(tensor.shape)}, but the config "
                f"gives {tuple(expected[key].shape)} (check d_model, d_ff, num_heads, num_kv_heads, vocab_size, "
                "max_len)"
            )
    for key, source in tied.items():
        if not torch.equal(converted[key], converted[source]):
            raise ValueError(f"the config ties {key} to {source}, but the state dict holds different matrices")
    model.load_state_dict(converted)
    return model


def convert_state_dict(state: Mapping[str, Tensor], family: Family, config: TransformerConfig) -> dict[str, Tensor]:
    """Rename (and transpose, stack, reorder) every tensor of `state` to lib's names; unknown keys are errors."""
    state = {strip_prefix(key, family.prefixes): tensor for key, tensor in state.items()}
    check_family(state, family)
    converted, parts, unknown = {}, {}, []
    for key, tensor in state.items():
        if any(re.fullmatch(pattern, key) for pattern in family.ignored):
            continue
        for pattern, target, transform in family.rules:
            match = re.fullmatch(pattern, key)
            if match:
                tensor = transform(tensor, config) if transform else tensor
                name, _, part = match.expand(target).partition("#")
                if part:
                    parts.setdefault(name, {})[int(part)] = tensor
                else:
                    converted[name] = tensor
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f"{family.name} state dict has keys lib does not know: {unknown[:6]}")
    for name, pieces in parts.items():  # query, key and value stacked into one projection
        if sorted(pieces) != [0, 1, 2]:
            absent = [("query", "key", "value")[i] for i in range(3) if i not in pieces]
            raise KeyError(f"{family.name} state dict lacks the {absent} projection for lib's {name}")
        converted[name] = torch.cat([pieces[0], pieces[1], pieces[2]], dim=0)
    return converted


def strip_prefix(key: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def check_family(state: Mapping[str, Tensor], family: Family) -> None:
    """Refuse another family's state dict by name, before any key is renamed."""
    if family.signature in state:
        return
    others = [
        other.name for other in FAMILIES if other.signature in {strip_prefix(key, other.prefixes) for key in state}
    ]
    looks = f"; it looks like a {others[0]} state dict" if others else ""
    raise KeyError(f"not a {family.name} state dict: it has no key {family.signature!r}{looks}")


def tied_keys(model: nn.Module) -> dict[str, str]:
    """lib keys whose tensor is another key's (a tied output layer): {alias: the key listed first}."""
    first: dict[int, str] = {}
    aliases = {}
    for key, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in first:
            aliases[key] = first[id(tensor)]
        else:
            first[id(tensor)] = key
    return aliases
