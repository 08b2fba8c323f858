"""Sphinx extension: the site as readers meet it, on a phone as on a desktop.

- The chapter menu (☰) and the in-page contents open and close on every screen: the header
  template drops pydata-sphinx-theme's hidden duplicate toggle buttons, which the theme's
  scripts would otherwise bind instead of the visible ones (pydata-sphinx-theme issue #2451).
- Figures stay legible: every notebook figure gets a minimum rendered width at which its
  smallest text is at least `MIN_TEXT_PX` pixels; a narrow screen shows it at that width in a
  box that scrolls sideways (static/reader.css), so the page itself never does.
- Every click on a solution's bar opens it, and its button is named by the bar, "Solution to
  Exercise (...)", not sphinx-togglebutton's "Toggle hidden content" (static/reader.js).
- The bibliography is a list of list items: docutils marks each entry `doc-biblioentry`, a role
  that ARIA 1.3 deprecates and that may not sit in a `role="list"` (axe: aria-required-children).
- No page loads fontawesome.js (1.5 MB): the theme's stylesheet already draws the same icons
  from its web fonts, which a page fetches only when it shows an icon of that font. Those fonts
  (156 and 118 kB) hold some 2,000 icons; the build keeps only the ones the site names and
  declares the smaller fonts after the theme's (`_static/icon-fonts.css`), so they replace them.
"""

import base64
import hashlib
import io
import json
import math
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIN_TEXT_PX = 9  # the smallest text a reader should meet in a figure, in CSS pixels

# matplotlib's defaults (the book changes none of them): text is 10 pt, and tick labels,
# axis labels and legends are "medium" (1.0 x), titles "large"; named sizes scale font.size.
DEFAULT_FONT_PT = 10.0
NAMED_SIZES = {"xx-small": 0.579, "x-small": 0.694, "small": 0.833, "smaller": 0.833, "medium": 1.0}
SIZE_ARGUMENT = re.compile(r"\b(?:fontsize|labelsize|size)\s*=\s*(\d+(?:\.\d+)?|[\"'][a-z-]+[\"'])")


def smallest_font_pt(source: str) -> float:
    """The smallest font size, in points, that the code of a figure's cell asks for."""
    sizes = [DEFAULT_FONT_PT]
    for value in SIZE_ARGUMENT.findall(source):
        name = value.strip("\"'")
        if name in NAMED_SIZES:
            sizes.append(DEFAULT_FONT_PT * NAMED_SIZES[name])
        elif name[0].isdigit():
            sizes.append(float(name))
    return min(sizes)


def png_size_and_dpi(data: bytes) -> tuple[int, int, float]:
    """(width, height, dots per inch) of a PNG; matplotlib writes its dpi in the pHYs chunk."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        dpi = image.info.get("dpi", (72.0, 72.0))[0]
        return image.width, image.height, float(dpi)


def notebook_figures(notebook: Path) -> dict[str, dict]:
    """Every stored PNG of a notebook, by the sha256 of its bytes (the name it gets on the site).

    Each maps to its natural width, its dpi, the smallest font its cell asks for, and the
    smallest text height it draws, in image pixels.
    """
    figures = {}
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            encoded = output.get("data", {}).get("image/png")
            if not encoded:
                continue
            data = base64.b64decode(encoded)
            width, _, dpi = png_size_and_dpi(data)
            font_pt = smallest_font_pt("".join(cell["source"]))
            figures[hashlib.sha256(data).hexdigest()] = {
                "width": width,
                "dpi": dpi,
                "font_pt": font_pt,
                "text_px": font_pt * dpi / 72,
            }
    return figures


def legible_width(figure: dict) -> int:
    """The rendered width, in CSS pixels, at which the figure's smallest text is MIN_TEXT_PX high."""
    return math.ceil(figure["width"] * MIN_TEXT_PX / figure["text_px"])


IMAGE_TAG = re.compile(r'<img (?P<attributes>[^>]*?src="[^"]*_images/(?P<name>[0-9a-f]{64})\.png"[^>]*?)\s*/?>')


def add_legible_widths(html: str, figures: dict[str, dict]) -> str:
    def rewrite(match):
        figure = figures.get(match["name"])
        if figure is None or "--legible-width" in match["attributes"]:
            return match[0]
        return f'<img {match["attributes"]} style="--legible-width: {legible_width(figure)}px" />'

    return IMAGE_TAG.sub(rewrite, html)


BIBLIOGRAPHY_ENTRY = 'role="doc-biblioentry"'
FONTAWESOME_SCRIPT = re.compile(r'[ \t]*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*"></script>\n?')


ICON_FONTS = {  # (family, weight) in the theme's @font-face rules -> its font file, without extension
    ("Font Awesome 6 Free", 900): "fa-solid-900",
    ("Font Awesome 6 Free", 400): "fa-regular-400",
    ("Font Awesome 6 Brands", 400): "fa-brands-400",
}
ICON_RULE = re.compile(r'([^{}]+)\{content:"\\([0-9a-f]{3,5})"\}')


def used_icon_codepoints(outdir: Path) -> set[int]:
    """The private-use code points of every icon that a page, a script or a stylesheet can show."""
    static = outdir / "_static"
    sources = [*outdir.rglob("*.html"), *(p for p in static.rglob("*.js") if "mathjax" not in p.parts)]
    names = set()
    for source in sources:
        names |= set(re.findall(r"\bfa-[a-z0-9-]+", source.read_text(encoding="utf-8", errors="replace")))
    codepoints = set()
    for stylesheet in (p for p in static.rglob("*.css") if "mathjax" not in p.parts):
        css = stylesheet.read_text(encoding="utf-8")
        for selectors, code in ICON_RULE.findall(css):
            if names & set(re.findall(r"\.(fa-[a-z0-9-]+):before", selectors)):
                codepoints.add(int(code, 16))
        codepoints |= {ord(ch) for ch in css if 0xE000 <= ord(ch) <= 0xF8FF}  # icons in CSS variables
    return codepoints


def subset_icon_fonts(outdir: Path) -> None:
    from fontTools import subset

    webfonts = outdir / "_static" / "vendor" / "fontawesome" / "webfonts"
    target = outdir / "_static" / "icon-fonts"
    target.mkdir(exist_ok=True)
    codepoints = sorted(used_icon_codepoints(outdir))
    rules = []
    for (family, weight), name in ICON_FONTS.items():
        options = subset.Options()
        options.flavor = "woff"  # zlib: fontTools writes woff2 only with the brotli package
        font = subset.load_font(str(webfonts / f"{name}.ttf"), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=codepoints)
        subsetter.subset(font)
        subset.save_font(font, str(target / f"{name}.woff"), options)
        rules.append(
            f'@font-face {{ font-display: block; font-family: "{family}"; font-style: normal; '
            f'font-weight: {weight}; src: url("icon-fonts/{name}.woff") format("woff"); }}'
        )
    header = "/* The theme's icon fonts cut to the icons this site uses (tools/sphinx/reader_site.py). */"
    (outdir / "_static" / "icon-fonts.css").write_text("\n".join([header, *rules]) + "\n", encoding="utf-8")


def finish_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    figures = {}
    for notebook in Path(app.srcdir).glob("chapters/*.ipynb"):
        figures.update(notebook_figures(notebook))
    outdir = Path(app.outdir)
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = FONTAWESOME_SCRIPT.sub("", text).replace(BIBLIOGRAPHY_ENTRY, 'role="listitem"')
        cleaned = add_legible_widths(cleaned, figures)
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")
    for unused in (outdir / "_static" / "scripts").glob("fontawesome.js*"):
        unused.unlink()
    subset_icon_fonts(outdir)


def add_paths(app, config):
    config.templates_path.insert(0, str(HERE / "templates"))
    config.html_static_path.append(str(HERE / "static"))


def setup(app):
    app.connect("config-inited", add_paths)
    app.add_css_file("reader.css")
    app.add_css_file("icon-fonts.css")  # written when the build finishes
    app.add_js_file("reader.js", loading_method="defer")
    app.connect("build-finished", finish_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
