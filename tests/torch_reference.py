"""Copying lib's weights into torch.nn.Transformer, so the two can be compared output for output."""

from torch import nn

LAYER_NAME_MAP = {
    "self_attn.in_proj.weight": "self_attn.in_proj_weight",
    "self_attn.in_proj.bias": "self_attn.in_proj_bias",
    "cross_attn.in_proj.weight": "multihead_attn.in_proj_weight",
    "cross_attn.in_proj.bias": "multihead_attn.in_proj_bias",
    "cross_attn.out_proj.weight": "multihead_attn.out_proj.weight",
    "cross_attn.out_proj.bias": "multihead_attn.out_proj.bias",
    "feed_forward.linear1.weight": "linear1.weight",
    "feed_forward.linear1.bias": "linear1.bias",
    "feed_forward.linear2.weight": "linear2.weight",
    "feed_forward.linear2.bias": "linear2.bias",
}


def copy_into_reference(model, reference: nn.Transformer) -> None:
    """Load a lib Transformer's encoder and decoder weights into `torch.nn.Transformer`."""
    ours = {k: v for k, v in model.state_dict().items() if k.startswith(("encoder.", "decoder."))}
    theirs = {}
    for name, tensor in ours.items():
        stack, rest = name.split(".", 1)
        if rest.startswith("layers."):
            _, index, param = rest.split(".", 2)
            theirs[f"{stack}.layers.{index}.{LAYER_NAME_MAP.get(param, param)}"] = tensor
        else:
            theirs[name] = tensor
    if not model.config.use_final_norm:
        reference.encoder.norm = None
        reference.decoder.norm = None
    reference.load_state_dict(theirs, strict=True)  # raises if any weight has no partner
