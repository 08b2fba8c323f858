"""Sphinx extension: keep every page free of console errors.

sphinx-thebe (added by Jupyter Book even with Thebe off) registers its inline config script
more than once, and a page that declares `const THEBE_JS_URL` twice throws a SyntaxError.
The scripts are appended after every page-context hook has run, so once the build is done,
each page's <head> keeps only the first copy of any identical <script> line. The book's widgets
mark the blocks that several of them carry (their runtime, a model's tensors): a page keeps the
first of each (lib/widget/page.py).
"""

from pathlib import Path

from lib.widget.page import deduplicate_shared_blocks


def deduplicate_head_scripts(html: str) -> str:
    head_end = html.find("</head>")
    if head_end < 0:
        return html
    seen, kept = set(), []
    for line in html[:head_end].splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("<script") and stripped.endswith("</script>"):
            if stripped in seen:
                continue
            seen.add(stripped)
        kept.append(line)
    return "".join(kept) + html[head_end:]


def clean_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = deduplicate_shared_blocks(deduplicate_head_scripts(text))  # one runtime, one copy of a weight
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")


def setup(app):
    app.connect("build-finished", clean_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
