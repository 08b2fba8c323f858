"""The book's diagrams (tools/figures.py): one for every idea a reader must hold in mind, each placed
once with alt text, legible on a 390-px phone and readable in the site's dark mode."""

import json
import re

import pytest
from figures import DIAGRAMS, IDEAS, MIN_TEXT_PX, diagram_facts, phone_text_px, problems

from notebook_contract import chapter_notebooks

FIGURE_DIRECTIVE = re.compile(
    r"```\{figure\} figures/(?P<file>[\w-]+\.svg)\n(?P<options>(?::[^\n]*\n)*)\n(?P<caption>.*?)```", re.S
)


def placed_diagrams() -> list[tuple[str, str, str, str]]:
    """(chapter, file, options, caption) for every diagram a chapter places."""
    placed = []
    for path in chapter_notebooks():
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                for match in FIGURE_DIRECTIVE.finditer("".join(cell["source"])):
                    placed.append((path.stem, match["file"], match["options"], match["caption"].strip()))
    return placed


@pytest.mark.parametrize("path", sorted(DIAGRAMS.glob("*.svg")), ids=lambda p: p.name)
def test_every_diagram_reads_on_a_phone_and_in_dark_mode(path):
    assert problems(path) == []
    assert phone_text_px(diagram_facts(path)) >= MIN_TEXT_PX - 0.05


def test_the_book_pictures_every_idea_a_reader_must_hold():
    assert len(IDEAS) >= 25
    files = {path.name for path in DIAGRAMS.glob("*.svg")}
    assert set(IDEAS.values()) == files, "every idea has its diagram, and every diagram its idea"


def test_every_diagram_is_placed_once_with_alt_text_and_a_caption():
    placed = placed_diagrams()
    files = [file for _, file, _, _ in placed]
    assert sorted(files) == sorted(IDEAS.values()), "each diagram appears in exactly one chapter, once"
    for chapter, file, options, caption in placed:
        alt = re.search(r"^:alt: (.+)$", options, re.M)
        assert alt and len(alt[1].split()) >= 10, f"{chapter}: {file} needs alt text that says what it shows"
        assert re.search(r"^:name: fig-", options, re.M), f"{chapter}: {file} needs a :name: to refer to"
        assert caption, f"{chapter}: {file} needs a caption"


def test_the_rules_name_what_breaks_them(tmp_path):
    wide = tmp_path / "wide.svg"
    wide.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 700 100" role="img">'
        "<title>t</title><desc>d</desc>"
        '<rect x="20" y="10" width="200" height="60" fill="#222222"/>'
        '<text x="10" y="50" font-size="12" fill="#aaaaaa">faint and small</text></svg>'
    )
    found = problems(wide)
    assert any("5.9 px on a phone" in p for p in found)
    assert any("does not paint a card" in p for p in found)
    carded = tmp_path / "carded.svg"
    carded.write_text(wide.read_text().replace("<rect", '<rect width="700" height="100" fill="#ffffff"/><rect', 1))
    found = problems(carded)
    assert any("contrast" in p and "faint and small" in p for p in found)
    assert any("filled dark (#222222)" in p for p in found)
