"""The book's diagrams: which idea each one pictures, and the rules that keep them readable.

Every diagram is a hand-written SVG in `chapters/figures/`, placed by one `{figure}` directive
with alt text and a caption. It must read on a 390-px phone and in the site's dark mode:

- **Phone.** At 390 px the reading column gives a figure `PHONE_FIGURE_PX` CSS pixels (measured
  in Chromium; `tests/site/test_reader.py` measures it again on every page), so the smallest text
  of a diagram whose viewBox is W units wide renders at `font_size * PHONE_FIGURE_PX / W` pixels,
  which must be at least `MIN_TEXT_PX`. In practice: a viewBox at most 420 units wide with text
  of 11 units or more.
- **Dark mode.** The theme shows images on its dark page dimmed (`brightness(0.8)`), not
  inverted. A diagram therefore paints its own light card first (a rect over the whole viewBox),
  keeps every large shape light, and writes its text in colours with at least 4.5:1 contrast
  (WCAG AA) on that card, so it reads the same in both modes.
- **Accessible.** `role="img"` with a `<title>` and a `<desc>`, and alt text in the directive.

`python tools/figures.py` checks every diagram and prints each one's smallest rendered text.
"""

import math
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "sphinx"))
from reader_site import MIN_TEXT_PX  # noqa: E402  (one floor for notebook figures and diagrams alike)

DIAGRAMS = ROOT / "chapters" / "figures"
PHONE_FIGURE_PX = 342  # a figure's width in the reading column of a 390-px-wide phone
MIN_CONTRAST = 4.5  # WCAG AA for normal text
LARGE_SHAPE = 400  # square units: a shape this big may carry text, so it must stay light
LIGHT_SHAPE = 0.3  # the least relative luminance such a shape's fill may have
SVG_DEFAULT_FONT = 16.0  # what an SVG's text uses where nothing sets font-size
SVG = "{http://www.w3.org/2000/svg}"

# The ideas a learner must hold in mind, each with its picture (issue #34 asks for these and more).
IDEAS = {
    "the learning loop": "learning_loop.svg",
    "autograd's graph, forward and backward": "autograd_graph.svg",
    "a recurrent network unrolled in time": "rnn_unrolled.svg",
    "a fixed context against attention": "fixed_context_vs_attention.svg",
    "one-hot vectors pick rows": "one_hot_lookup.svg",
    "weight tying": "weight_tying.svg",
    "token plus position": "token_plus_position.svg",
    "rotary positions": "rotary_rotation.svg",
    "scaled dot-product attention, step by step": "scaled_dot_product.svg",
    "queries, keys, values and heads": "attention_qkv_heads.svg",
    "multi-head splitting": "multi_head_split.svg",
    "attention masks": "attention_masks.svg",
    "the residual stream": "residual_stream.svg",
    "Post-LN and Pre-LN": "post_pre_ln.svg",
    "encoder-decoder wiring": "encoder_decoder.svg",
    "the key/value cache": "kv_cache.svg",
    "pretraining then fine-tuning": "pretrain_finetune.svg",
    "BPE merges": "bpe_merges.svg",
    "a decoder-only GPT": "gpt_decoder_only.svg",
    "inputs and targets shifted by one": "shifted_targets.svg",
    "every position trained in parallel under the causal mask": "causal_parallel_training.svg",
    "grouped-query attention": "grouped_query_attention.svg",
    "LoRA's low-rank update": "lora_update.svg",
    "the chat template and the answer-only loss": "chat_template_loss.svg",
    "DPO's preference pair": "dpo_pair.svg",
}


def luminance(colour: str) -> float:
    """WCAG relative luminance of a #rgb or #rrggbb colour (named colours: white and black only)."""
    colour = {"white": "#ffffff", "black": "#000000"}.get(colour.strip().lower(), colour.strip())
    if not re.fullmatch(r"#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}", colour):
        raise ValueError(f"use #rgb or #rrggbb colours in diagrams, not {colour!r}")
    digits = colour[1:] if len(colour) == 7 else "".join(c * 2 for c in colour[1:])
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def style_value(element, name: str) -> str | None:
    """An attribute, or the same property inside the element's `style`."""
    for declaration in element.get("style", "").split(";"):
        key, _, value = declaration.partition(":")
        if key.strip() == name:
            return value.strip()
    return element.get(name)


def number(value: str) -> float:
    return float(re.match(r"\s*(-?[\d.]+)", value).group(1))


def texts_with_style(element, font_size: float = SVG_DEFAULT_FONT, fill: str = "#000000"):
    """Every text or tspan with the font size and fill it inherits (SVG's defaults: 16, black)."""
    size = style_value(element, "font-size")
    font_size = number(size) if size else font_size
    fill = style_value(element, "fill") or fill
    tag = element.tag.removeprefix(SVG)
    if tag in ("text", "tspan") and (element.text or "").strip():
        yield "".join(element.itertext()).strip(), font_size, fill
    for child in element:
        if child.tag.removeprefix(SVG) not in ("defs", "title", "desc", "marker"):
            yield from texts_with_style(child, font_size, fill)


def shape_area(element) -> float:
    tag = element.tag.removeprefix(SVG)
    if tag == "rect":
        return number(element.get("width", "0")) * number(element.get("height", "0"))
    if tag == "circle":
        return math.pi * number(element.get("r", "0")) ** 2
    if tag == "ellipse":
        return math.pi * number(element.get("rx", "0")) * number(element.get("ry", "0"))
    return 0.0


def diagram_facts(path: Path) -> dict:
    """What the rules look at: the viewBox, the smallest text, the card, colours and labels."""
    root = ElementTree.parse(path).getroot()
    _, _, width, height = (number(v) for v in root.get("viewBox", "0 0 0 0").replace(",", " ").split())
    texts = list(texts_with_style(root))
    painted = [e for e in root if e.tag.removeprefix(SVG) not in ("title", "desc", "defs", "style")]
    card = painted[0] if painted else None
    covers = (
        card is not None
        and card.tag.removeprefix(SVG) == "rect"
        and number(card.get("x", "0")) <= 0
        and number(card.get("y", "0")) <= 0
        and number(card.get("width", "0")) >= width
        and number(card.get("height", "0")) >= height
    )
    card_fill = style_value(card, "fill") if covers else None
    shapes = [
        (e.tag.removeprefix(SVG), style_value(e, "fill"))
        for e in root.iter()
        if shape_area(e) >= LARGE_SHAPE and e is not card and (style_value(e, "fill") or "#000") != "none"
    ]
    return {
        "width": width,
        "smallest_font": min((size for _, size, _ in texts), default=None),
        "texts": texts,
        "card_fill": card_fill,
        "shapes": shapes,
        "role": root.get("role"),
        "title": (root.findtext(f"{SVG}title") or "").strip(),
        "desc": (root.findtext(f"{SVG}desc") or "").strip(),
    }


def phone_text_px(facts: dict, figure_px: float = PHONE_FIGURE_PX) -> float:
    """How high the diagram's smallest text is, in CSS pixels, when drawn `figure_px` wide."""
    return facts["smallest_font"] * min(figure_px, facts["width"]) / facts["width"]


def problems(path: Path) -> list[str]:
    """Every rule the diagram breaks, each named (an empty list: it reads on a phone and in dark mode)."""
    facts = diagram_facts(path)
    found = []
    if facts["role"] != "img" or not facts["title"] or not facts["desc"]:
        found.append('needs role="img", a <title> and a <desc>')
    if facts["smallest_font"] is None:
        found.append("has no text")
    elif phone_text_px(facts) < MIN_TEXT_PX - 0.05:
        found.append(
            f"its smallest text ({facts['smallest_font']:g} units in a {facts['width']:g}-unit viewBox) is "
            f"{phone_text_px(facts):.1f} px on a phone, under {MIN_TEXT_PX}"
        )
    if facts["card_fill"] is None:
        found.append("does not paint a card over its whole viewBox first (dark mode would show through)")
        return found
    if luminance(facts["card_fill"]) < 0.9:
        found.append(f"its card {facts['card_fill']} is not light")
    for text, _, fill in facts["texts"]:
        if contrast(fill, facts["card_fill"]) < MIN_CONTRAST:
            found.append(f"text {text[:30]!r} in {fill} has contrast {contrast(fill, facts['card_fill']):.1f} < 4.5")
    for tag, fill in facts["shapes"]:
        if luminance(fill or "#000000") < LIGHT_SHAPE:
            found.append(f"a large {tag} is filled dark ({fill}); text on it would not read")
    return found


def main() -> int:
    failed = 0
    for path in sorted(DIAGRAMS.glob("*.svg")):
        found = problems(path)
        failed += bool(found)
        facts = diagram_facts(path)
        size = f"{phone_text_px(facts):4.1f} px" if facts["smallest_font"] else "   -   "
        print(f"{'ok  ' if not found else 'FAIL'} {size}  {path.name}" + "".join(f"\n       {p}" for p in found))
    print(f"{len(list(DIAGRAMS.glob('*.svg')))} diagrams, {failed} with problems")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
