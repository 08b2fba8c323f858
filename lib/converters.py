"""Hugging Face checkpoints of GPT-2, BERT and Llama, loaded into lib's models, or refused.

A checkpoint is two things: the state dict (a plain dict from names to tensors, the form
`torch.load` or `safetensors.torch.load_file` returns) and the config that says how to compute
with it. Both are read here, each by a table per family:

- `fields`: every field of the family's Hugging Face config, and what lib does with it. It *sets*
  lib's config fields (`n_embd` -> `d_model`), it *requires* the one value lib computes
  (GPT-2's `scale_attn_weights` must be True), or it is *ignored*, with the reason it does not
  change what a loaded model computes (`use_cache`). A field the table does not list is refused:
  a field a later `transformers` adds cannot slip through. `config_from_hf` builds lib's config
  this way; `check_config` compares a given one with it, field by field.
- `rules`: the state dict's names, mapped to lib's. The names differ, and so, in three places,
  does the layout:

  - GPT-2 stores its linear maps as `Conv1D`, (in, out) where `nn.Linear` has (out, in): transposed.
  - BERT and Llama keep query, key and value as three matrices; lib stacks them into one `in_proj`.
  - Llama rotates the dimension pairs (i, i + head_dim/2) of each head; lib rotates (2i, 2i + 1).
    Reordering the rows of W_Q and W_K the same way inside each head changes nothing else: the
    dot product of a query and a key is a sum over dimensions, in any order.

One function walks any family's tables, so a fourth family is two more tables. Every key and
every shape is checked, and what does not fit is named. This module never imports
`transformers` (it reads a config object through its `to_dict()`); the book never downloads
anything. A reader with network access and `transformers` can run, for example::

    from safetensors.torch import load_file
    from transformers import AutoConfig
    from lib.converters import from_hf
    model = from_hf(load_file("model.safetensors"), AutoConfig.from_pretrained("folder with config.json"))
"""

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from lib import presets
from lib.config import TransformerConfig
from lib.model import DecoderOnlyTransformer, EncoderOnlyTransformer
from lib.positional import RotaryScaling

Transform = Callable[[Tensor, TransformerConfig], Tensor]


def transpose(weight: Tensor, config: TransformerConfig) -> Tensor:
    """GPT-2's Conv1D weight (in, out) -> nn.Linear's (out, in)."""
    return weight.t()


def interleave_rotary_pairs(weight: Tensor, config: TransformerConfig) -> Tensor:
    """Rows of a Llama W_Q or W_K, (heads * head_dim, d_model), or of its bias, reordered per head for lib's pairs.

    lib's row 2i of a head is Llama's row i, and lib's row 2i + 1 is Llama's row head_dim/2 + i.
    """
    half = config.head_dim // 2
    order = torch.stack([torch.arange(half), torch.arange(half) + half], dim=1).flatten()  # 0, h, 1, h+1, ...
    heads = weight.size(0) // config.head_dim
    return weight.view(heads, config.head_dim, -1)[:, order].reshape(weight.shape)


# ------------------------------------------------------------------------------ config fields


@dataclass(frozen=True)
class Sets:
    """The field sets lib's config fields: `convert(name, value, all fields)` -> {lib field: value}.

    `convert` raises a ValueError for a value lib cannot compute. `optional`: an older name that a
    config may or may not have (a config.json written by an earlier `transformers`).
    """

    convert: Callable[[str, Any, Mapping[str, Any]], dict[str, Any]]
    optional: bool = False


@dataclass(frozen=True)
class Requires:
    """lib computes only these values of the field; any other is refused, saying what lib does instead."""

    supported: tuple
    lib_computes: str
    optional: bool = False


@dataclass(frozen=True)
class Ignores:
    """The field does not change what a loaded model computes, for the reason given."""

    reason: str


FieldRule = Sets | Requires | Ignores


def same(lib_field: str, optional: bool = False) -> Sets:
    """The value, unchanged, in `lib_field`."""
    return Sets(lambda name, value, hf: {lib_field: value}, optional)


def renamed(lib_field: str, names: Mapping[str, Any]) -> Sets:
    """One of a few named values (an activation), in lib's name; any other is refused."""

    def convert(name: str, value: Any, hf: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(value, str) or value not in names:
            raise ValueError(f"{name}={value!r} is not computed by lib, which supports {sorted(names)}")
        return {lib_field: names[value]}

    return Sets(convert)


def special_id(lib_field: str) -> Sets:
    """A token id. None leaves lib's value open; of a list of ids (several ends of text), lib keeps the first."""

    def convert(name: str, value: Any, hf: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        return {} if value is None else {lib_field: value}

    return Sets(convert)


def padding_id(name: str, value: Any, hf: Mapping[str, Any]) -> dict[str, Any]:
    """lib masks the tokens equal to pad_id when no padding mask is given. A checkpoint that pads with its
    end-of-text id (GPT-2's fine-tunes) cannot mean that, so its padding is left to masks (pad_id None)."""
    eos = hf.get("eos_token_id")
    ends = {hf.get("bos_token_id"), *(eos if isinstance(eos, list | tuple) else [eos])}
    return {"pad_id": None if value in ends else value}


def gpt2_feed_forward_width(name: str, value: Any, hf: Mapping[str, Any]) -> dict[str, Any]:
    """n_inner None means 4 * n_embd, GPT-2's width."""
    return {"d_ff": 4 * hf["n_embd"] if value is None else value}


def llama_head_dim(name: str, value: Any, hf: Mapping[str, Any]) -> dict[str, Any]:
    """lib's heads are d_model / num_heads wide; Hugging Face's may be set apart (other families use that)."""
    derived = hf["hidden_size"] // hf["num_attention_heads"]
    if value not in (None, derived):
        raise ValueError(
            f"{name}={value!r} is not computed by lib, whose heads are hidden_size / num_attention_heads = "
            f"{derived} wide"
        )
    return {}


def llama_rope(name: str, value: Any, hf: Mapping[str, Any]) -> dict[str, Any]:
    """rope_parameters (or an older config's rope_scaling): the rotary base, and Llama 3.1's scaling if named."""
    if value is None:  # an older config without scaling
        return {"rotary_scaling": None}
    parameters = dict(value)
    rope_type = parameters.pop("rope_type", parameters.pop("type", "default"))
    settings = {}
    if "rope_theta" in parameters:
        settings["rotary_base"] = parameters.pop("rope_theta")
    if parameters.pop("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError(f"{name}={value!r} rotates part of each head; lib rotates all of it (factor 1.0)")
    if rope_type == "default":
        settings["rotary_scaling"] = None
    elif rope_type == "llama3":
        needed = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
        missing = [key for key in needed if key not in parameters]
        if missing:
            raise ValueError(f"{name}={value!r} lacks {missing}, which llama3 scaling needs")
        values = [parameters.pop(key) for key in needed]
        settings["rotary_scaling"] = RotaryScaling(*values[:3], original_max_len=values[3])
    else:
        raise ValueError(f"{name} has rope_type {rope_type!r}; lib computes 'default' and 'llama3' only")
    if parameters:
        raise ValueError(f"{name} has keys lib does not compute: {parameters}")
    return settings


DROPOUT_ONLY = "a dropout rate: none acts in evaluation, and lib trains with one rate, the one this table maps"
OUTPUT_ONLY = "what a forward call returns or keeps, not the numbers it computes"

# Fields every Hugging Face config has, and what they mean for a language model lib loads.
COMMON_FIELDS: dict[str, FieldRule] = {
    "model_type": Ignores("picks the family (these tables)"),
    "architectures": Ignores("names the Hugging Face classes the weights were saved from"),
    "transformers_version": Ignores("the version that wrote the config"),
    "_name_or_path": Ignores("where the config was read from"),
    "output_hidden_states": Ignores(OUTPUT_ONLY),
    "output_attentions": Ignores(OUTPUT_ONLY),
    "return_dict": Ignores(OUTPUT_ONLY),
    "use_cache": Ignores(OUTPUT_ONLY + ": a key/value cache gives the same numbers (lib's tests show it)"),
    "dtype": Ignores("the dtype the weights were saved in: lib loads the state dict's tensors in their own"),
    "torch_dtype": Ignores("the older name of dtype"),
    "chunk_size_feed_forward": Ignores("runs the feed-forward network on chunks of tokens: the same numbers"),
    "id2label": Ignores("labels of a classification head, which lib does not convert"),
    "label2id": Ignores("the same labels, the other way round"),
    "problem_type": Ignores("the loss of a classification head, which lib does not convert"),
    "task_specific_params": Ignores("settings of Hugging Face's pipelines, not of the model"),
    "gradient_checkpointing": Ignores("recomputes activations in training to save memory: the same numbers"),
    "is_encoder_decoder": Requires((False,), "a single stack", optional=True),
    "add_cross_attention": Requires((False,), "no cross-attention in a single stack", optional=True),
    "tie_word_embeddings": same("tie_embeddings"),
}

GPT2_FIELDS: dict[str, FieldRule] = {
    **COMMON_FIELDS,
    "vocab_size": same("vocab_size"),
    "n_positions": same("max_len"),
    "n_ctx": Ignores("an old name for the context, which Hugging Face's model no longer reads (n_positions)"),
    "n_embd": same("d_model"),
    "n_layer": same("num_decoder_layers"),
    "n_head": same("num_heads"),
    "n_inner": Sets(gpt2_feed_forward_width),
    "activation_function": renamed(
        "activation", {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}
    ),
    "resid_pdrop": same("dropout"),
    "embd_pdrop": Ignores(DROPOUT_ONLY),
    "attn_pdrop": Ignores(DROPOUT_ONLY),
    "layer_norm_epsilon": same("norm_eps"),
    "initializer_range": same("init_std"),
    **{
        name: Ignores("GPT2DoubleHeadsModel's multiple-choice head, which lib does not convert")
        for name in (
            "summary_type",
            "summary_use_proj",
            "summary_activation",
            "summary_proj_to_labels",
            "summary_first_dropout",
        )
    },
    "scale_attn_weights": Requires((True,), "scores divided by sqrt(d_k)"),
    "scale_attn_by_inverse_layer_idx": Requires((False,), "every layer's scores divided by sqrt(d_k) alone"),
    "reorder_and_upcast_attn": Ignores("scores in float32 (eager attention only): the same formula, rounded"),
    "bos_token_id": special_id("bos_id"),
    "eos_token_id": special_id("eos_id"),
    "pad_token_id": Sets(padding_id),
}

BERT_FIELDS: dict[str, FieldRule] = {
    **COMMON_FIELDS,
    "vocab_size": same("vocab_size"),
    "hidden_size": same("d_model"),
    "num_hidden_layers": same("num_encoder_layers"),
    "num_attention_heads": same("num_heads"),
    "intermediate_size": same("d_ff"),
    "hidden_act": renamed("activation", {"gelu": "gelu", "gelu_new": "gelu_tanh", "relu": "relu"}),
    "hidden_dropout_prob": same("dropout"),
    "attention_probs_dropout_prob": Ignores(DROPOUT_ONLY),
    "classifier_dropout": Ignores("the dropout of a classification head, which lib does not convert"),
    "max_position_embeddings": same("max_len"),
    "type_vocab_size": same("num_token_types"),
    "initializer_range": same("init_std"),
    "layer_norm_eps": same("norm_eps"),
    "position_embedding_type": Requires(("absolute",), "learned absolute positions", optional=True),
    "is_decoder": Requires((False,), "an encoder that attends both ways (a causal BERT is not converted)"),
    "bos_token_id": special_id("bos_id"),
    "eos_token_id": special_id("eos_id"),
    "pad_token_id": Sets(padding_id),
}

LLAMA_FIELDS: dict[str, FieldRule] = {
    **COMMON_FIELDS,
    "vocab_size": same("vocab_size"),
    "hidden_size": same("d_model"),
    "intermediate_size": same("d_ff"),
    "num_hidden_layers": same("num_decoder_layers"),
    "num_attention_heads": same("num_heads"),
    "num_key_value_heads": same("num_kv_heads"),  # None: one per query head, in both libraries
    "head_dim": Sets(llama_head_dim),
    "hidden_act": renamed("activation", {"silu": "swiglu"}),  # the gate's nonlinearity
    "max_position_embeddings": same("max_len"),
    "initializer_range": same("init_std"),
    "rms_norm_eps": same("norm_eps"),
    "rope_parameters": Sets(llama_rope),
    "rope_theta": same("rotary_base", optional=True),
    "rope_scaling": Sets(llama_rope, optional=True),
    "attention_bias": same("attention_bias"),
    "mlp_bias": same("feed_forward_bias"),
    "attention_dropout": same("dropout"),
    "pretraining_tp": Ignores("the tensor-parallel degree Meta trained with; Hugging Face's model does not read it"),
    "bos_token_id": special_id("bos_id"),
    "eos_token_id": special_id("eos_id"),
    "pad_token_id": Sets(padding_id),
}

# lib fields a Hugging Face config may set but a lib config may choose freely: they change how a
# fresh model starts or trains, never what a loaded one computes in evaluation.
FREE_FIELDS = ("dropout", "init", "init_std", "depth_scaled_init")


# ------------------------------------------------------------------------------ state dict names


@dataclass
class Family:
    """One family's two tables: its config fields, and its state dict names (regular expressions, in order)."""

    name: str
    model_type: str  # Hugging Face's name of the family, in every config
    preset: Callable[..., TransformerConfig]  # lib's choices the family always makes (lib/presets.py)
    model: type[nn.Module]
    fields: dict[str, FieldRule]
    signature: str  # a key only this family's state dicts have (after the prefixes are removed)
    prefixes: tuple[str, ...]  # removed from the front of every key, e.g. "transformer."
    rules: list[tuple[str, str, Transform | None]]  # (pattern, lib key, transform)
    ignored: tuple[str, ...] = ()  # keys lib has no use for: buffers, or heads lib does not model


GPT2 = Family(
    "GPT-2",
    model_type="gpt2",
    preset=presets.gpt2,
    model=DecoderOnlyTransformer,
    fields=GPT2_FIELDS,
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
    model_type="bert",
    preset=presets.bert_base,
    model=EncoderOnlyTransformer,
    fields=BERT_FIELDS,
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
    model_type="llama",
    preset=presets.llama3_8b,
    model=DecoderOnlyTransformer,
    fields=LLAMA_FIELDS,
    signature="embed_tokens.weight",
    prefixes=("model.",),
    rules=[
        (r"embed_tokens\.weight", "input.token_embedding.lookup.weight", None),
        (
            r"layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)",
            r"layers.layers.\1.self_attn.in_proj.\2#0",
            interleave_rotary_pairs,
        ),
        (
            r"layers\.(\d+)\.self_attn\.k_proj\.(weight|bias)",
            r"layers.layers.\1.self_attn.in_proj.\2#1",
            interleave_rotary_pairs,
        ),
        (r"layers\.(\d+)\.self_attn\.v_proj\.(weight|bias)", r"layers.layers.\1.self_attn.in_proj.\2#2", None),
        (r"layers\.(\d+)\.self_attn\.o_proj\.(weight|bias)", r"layers.layers.\1.self_attn.out_proj.\2", None),
        (r"layers\.(\d+)\.mlp\.gate_proj\.(weight|bias)", r"layers.layers.\1.feed_forward.gate.\2", None),
        (r"layers\.(\d+)\.mlp\.up_proj\.(weight|bias)", r"layers.layers.\1.feed_forward.linear1.\2", None),
        (r"layers\.(\d+)\.mlp\.down_proj\.(weight|bias)", r"layers.layers.\1.feed_forward.linear2.\2", None),
        (r"layers\.(\d+)\.input_layernorm\.weight", r"layers.layers.\1.norm1.weight", None),
        (r"layers\.(\d+)\.post_attention_layernorm\.weight", r"layers.layers.\1.norm2.weight", None),
        (r"norm\.weight", "layers.norm.weight", None),
        (r"lm_head\.weight", "generator.weight", None),
    ],
    ignored=(r"layers\.\d+\.self_attn\.rotary_emb\.inv_freq",),  # a buffer of old versions
)

FAMILIES = (GPT2, BERT, LLAMA)


# ------------------------------------------------------------------------------ loading


def gpt2_from_hf(
    state: Mapping[str, Tensor], hf_config: Any, config: TransformerConfig | None = None
) -> DecoderOnlyTransformer:
    """A lib model holding the weights of a Hugging Face GPT-2 (`GPT2LMHeadModel` or `GPT2Model`)."""
    return load(GPT2, state, hf_config, config)


def bert_from_hf(
    state: Mapping[str, Tensor], hf_config: Any, config: TransformerConfig | None = None
) -> EncoderOnlyTransformer:
    """A lib model holding the weights of a Hugging Face `BertForMaskedLM`."""
    return load(BERT, state, hf_config, config)


def llama_from_hf(
    state: Mapping[str, Tensor], hf_config: Any, config: TransformerConfig | None = None
) -> DecoderOnlyTransformer:
    """A lib model holding the weights of a Hugging Face `LlamaForCausalLM` (Llama 1 to 3.3)."""
    return load(LLAMA, state, hf_config, config)


def from_hf(state: Mapping[str, Tensor], hf_config: Any, config: TransformerConfig | None = None) -> nn.Module:
    """A lib model holding a Hugging Face checkpoint of any family above, picked by the config's model_type."""
    return load(family_of(hf_config), state, hf_config, config)


def load(family: Family, state: Mapping[str, Tensor], hf_config: Any, config: TransformerConfig | None) -> nn.Module:
    """The checkpoint (`state` and `hf_config`) in lib's model, built from `config_from_hf(hf_config)`,
    or from `config` after `check_config` found it computes the same."""
    if family_of(hf_config) is not family:
        raise ValueError(f"a {family_of(hf_config).name} config was given to load a {family.name} checkpoint")
    if config is None:
        config = config_from_hf(hf_config)
    else:
        check_config(config, hf_config)
    return load_family(family.model(config), state, family)


def hf_fields(hf_config: Any) -> dict[str, Any]:
    """Every field of a Hugging Face config object (through its `to_dict()`), or of a dict of them."""
    if isinstance(hf_config, Mapping):
        return dict(hf_config)
    if callable(getattr(hf_config, "to_dict", None)):
        return hf_config.to_dict()
    raise TypeError(f"expected a Hugging Face config (with to_dict()) or a dict, got {type(hf_config).__name__}")


def family_of(hf_config: Any) -> Family:
    """The family whose model_type the config names."""
    model_type = hf_fields(hf_config).get("model_type")
    for family in FAMILIES:
        if family.model_type == model_type:
            return family
    known = [family.model_type for family in FAMILIES]
    raise ValueError(f"lib loads the model types {known}; this config's model_type is {model_type!r}")


def config_from_hf(hf_config: Any, **overrides: Any) -> TransformerConfig:
    """lib's config for a Hugging Face config, by its family's `fields` table; anything else is refused.

    `overrides` may set what the Hugging Face config leaves open (a token id it does not name; dropout
    and initialization, which change training, not a loaded model) and must agree with the rest.
    """
    family = family_of(hf_config)
    settings, _ = lib_settings(family, hf_fields(hf_config))
    config = family.preset(**{**settings, **overrides})
    check_config(config, hf_config)  # an override may set only what the Hugging Face config leaves open
    return config


def check_config(config: TransformerConfig, hf_config: Any) -> None:
    """Refuse a lib config that would compute something other than the Hugging Face config, naming each field."""
    family = family_of(hf_config)
    settings, sources = lib_settings(family, hf_fields(hf_config))
    free = open_fields(settings)
    expected = family.preset(**{**settings, **{name: getattr(config, name) for name in free}})
    disagreements = differences(config, expected, family, sources, free)
    if disagreements:
        raise ValueError(f"the lib config does not compute what the {family.name} checkpoint does: {disagreements}")


def lib_settings(family: Family, hf: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Walk the family's `fields` table over the config's fields: lib's settings, and for each one the
    Hugging Face field it came from. Refuses fields the table does not know and values lib does not compute."""
    unknown = {name: value for name, value in hf.items() if name not in family.fields}
    if unknown:
        raise ValueError(
            f"the {family.name} config has fields lib does not know, which may change the computation: {unknown}"
        )
    settings: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, rule in family.fields.items():
        if isinstance(rule, Ignores):
            continue
        if name not in hf:
            if rule.optional:
                continue
            raise ValueError(
                f"the {family.name} config has no field {name}; pass a transformers config object, which fills in "
                "the defaults a config.json leaves out"
            )
        value = hf[name]
        if isinstance(rule, Requires):
            if value not in rule.supported:
                supported = " or ".join(repr(choice) for choice in rule.supported)
                raise ValueError(
                    f"the {family.name} config's {name}={value!r} is not computed by lib, which supports only "
                    f"{name}={supported} ({rule.lib_computes})"
                )
            continue
        try:
            converted = rule.convert(name, value, hf)
        except ValueError as error:
            raise ValueError(f"the {family.name} config's {error}") from None
        for lib_field, lib_value in converted.items():
            if lib_field in settings and settings[lib_field] != lib_value:
                raise ValueError(
                    f"the {family.name} config sets lib's {lib_field} twice, differently: "
                    f"{sources[lib_field]} and {name}={value!r}"
                )
            settings[lib_field] = lib_value
            sources[lib_field] = f"{name}={value!r}"
    return settings, sources


def open_fields(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """lib fields a lib config may choose: the free ones, and token ids the Hugging Face config does not name."""
    return FREE_FIELDS + tuple(name for name in ("bos_id", "eos_id") if name not in settings)


def differences(
    given: TransformerConfig, expected: TransformerConfig, family: Family, sources: Mapping[str, str], free
) -> list[str]:
    """Each field outside `free` in which `given` differs from `expected`, and where `expected`'s value came from."""
    found = []
    for field in dataclasses.fields(TransformerConfig):
        name = field.name
        if name not in free and not same_meaning(given, expected, name):
            source = sources.get(name, f"the {family.name} architecture (lib.presets.{family.preset.__name__})")
            found.append(f"{name}={getattr(given, name)!r}, but {source} gives {getattr(expected, name)!r}")
    return found


def same_meaning(given: TransformerConfig, expected: TransformerConfig, name: str) -> bool:
    """Equal values, or values that mean the same: num_kv_heads None is one per query head, final_norm None
    follows norm_first, target_vocab_size None is vocab_size."""
    if getattr(given, name) == getattr(expected, name):
        return True
    derived = {"num_kv_heads": "kv_heads", "final_norm": "use_final_norm", "target_vocab_size": "output_vocab_size"}
    return name in derived and getattr(given, derived[name]) == getattr(expected, derived[name])


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
