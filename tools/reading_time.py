"""How long a chapter takes, computed from the chapter, and the book's two routes.

A chapter's time is its prose at PROSE_WORDS_PER_MINUTE, its code at CODE_LINES_PER_MINUTE and
RUN_MINUTES for its cells to run (every chapter executes in under a minute and a half);
exercises are not counted, nor the Colab cell. The speeds are those of a careful first read of
technical text with formulas, not of skimming: at them the whole book takes about twelve hours,
which is what a learner's timed read of it took.

The full route reads every chapter in the order of _toc.yml. The fast route is the shortest path
to "I built and trained a GPT": FAST_ROUTE says, for each chapter, which sections it skips (or
that it skips the whole chapter). The intro quotes these times and each chapter's opening names
what the fast route skips in it; tests/test_notebooks.py checks both against this module.

Run `python tools/reading_time.py` to print the table, and with `--update-intro` to write the
times into intro.md after a chapter's text changed.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROSE_WORDS_PER_MINUTE = 100
CODE_LINES_PER_MINUTE = 10
RUN_MINUTES = 1.5
WHOLE_CHAPTER = "the whole chapter"

# chapter: the headings (## or ###, text as written) of the sections the fast route skips.
FAST_ROUTE = {
    "learning_from_data": [],
    "recurrent_networks": WHOLE_CHAPTER,
    "one_hot_encoding": ["The cost of one-hot vectors"],
    "input_embedding": ["Which rows learn", "A picture: two principal components"],
    "positional_encoding": [
        "Where the maximum length comes from",
        "Rotary position embedding",
        "Which works best? A measured comparison",
    ],
    "attention": ["The cost: $n^2$", "Seeing attention in a trained model"],
    "encoder_decoder": ["What the failed runs learned (optional)", "Counting the base model's parameters (optional)"],
    "generation": ["The three shapes in the explorer"],
    "training": ["Decoding: greedy and beam search", "Beyond one machine"],
    "gpt": ["Scale on a CPU", "Bad input"],
    "write_a_gpt": ["Learning or copying?", "When something is wrong"],
    "modern_transformer": WHOLE_CHAPTER,
    "post_training": WHOLE_CHAPTER,
}

FENCED_DIRECTIVE = re.compile(r"(`{3,})\{(exercise|solution)\}.*?\n\1[ \t]*(?:\n|$)", re.S)
CODE_BLOCK = re.compile(r"```.*?```", re.S)
HEADING = re.compile(r"^(#{2,3}) (.+)$", re.M)


def prose_words(markdown: str) -> int:
    """Words a reader reads in a markdown cell: exercises, solutions and code blocks left out."""
    return len(CODE_BLOCK.sub("", FENCED_DIRECTIVE.sub("", markdown)).split())


def code_lines(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#"))


def sections(notebook: dict) -> list[tuple[int, str, float]]:
    """(heading level, heading, reading minutes) for every ## and ### section, in order.

    A section runs to the next heading of any level; the text before the first ## heading is
    the chapter's opening (level 1). The minutes count prose and code, not running.
    """
    found = [(1, "", 0.0)]
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] != "markdown":
            level, title, minutes = found[-1]
            found[-1] = (level, title, minutes + code_lines(source) / CODE_LINES_PER_MINUTE)
            continue
        if "**On Colab?**" in source:
            continue
        pieces = HEADING.split(source)  # text, (hashes, title, text)...
        level, title, minutes = found[-1]
        found[-1] = (level, title, minutes + prose_words(pieces[0]) / PROSE_WORDS_PER_MINUTE)
        for hashes, title, text in zip(pieces[1::3], pieces[2::3], pieces[3::3], strict=True):
            found.append((len(hashes), title.strip(), prose_words(text) / PROSE_WORDS_PER_MINUTE))
    return found


def skipped_minutes(notebook: dict, skipped: list[str]) -> float:
    """Minutes of the skipped ## sections (with their ### subsections) and skipped ### sections."""
    total, skipping_level = 0.0, None
    for level, title, minutes in sections(notebook):
        if skipping_level is not None and level > skipping_level:
            total += minutes  # a subsection of a skipped section
            continue
        skipping_level = level if title in skipped else None
        total += minutes if title in skipped else 0.0
    return total


def chapter_minutes(notebook: dict) -> float:
    return sum(minutes for _, _, minutes in sections(notebook)) + RUN_MINUTES


def fast_minutes(notebook: dict, skipped) -> float:
    if skipped == WHOLE_CHAPTER:
        return 0.0
    return chapter_minutes(notebook) - skipped_minutes(notebook, skipped)


def rounded(minutes: float, step: int = 5) -> int:
    return int(step * round(minutes / step))


def load(name: str) -> dict:
    return json.loads((ROOT / "chapters" / f"{name}.ipynb").read_text())


def route_minutes() -> tuple[float, float]:
    """(full route, fast route) in minutes, over the chapters of FAST_ROUTE."""
    notebooks = {name: load(name) for name in FAST_ROUTE}
    full = sum(chapter_minutes(nb) for nb in notebooks.values())
    fast = sum(fast_minutes(notebooks[name], skipped) for name, skipped in FAST_ROUTE.items())
    return full, fast


def intro_entry(name: str) -> str:
    """How the intro's chapter list names a chapter and its two times."""
    notebook, skipped = load(name), FAST_ROUTE[name]
    route = (
        "; not on the fast route"
        if skipped == WHOLE_CHAPTER
        else f", {rounded(fast_minutes(notebook, skipped))} on the fast route"
    )
    return f"{{doc}}`chapters/{name}` (about {rounded(chapter_minutes(notebook))} minutes{route})"


def update_intro(path: Path = ROOT / "intro.md") -> None:
    """Write each chapter's times and the two routes' totals into the intro's chapter list."""
    text = path.read_text()
    full, fast = route_minutes()
    text = re.sub(r"(each\nbuilding on the ones before it: about )[\d.]+", rf"\g<1>{full / 60:.1f}", text)
    text = re.sub(r"(names: about\n)[\d.]+", rf"\g<1>{fast / 60:.1f}", text)
    for name in FAST_ROUTE:
        entry = intro_entry(name)
        text, count = re.subn(rf"\{{doc\}}`chapters/{name}` \(about \d+ minutes[^)]*\)", lambda _, e=entry: e, text)
        assert count == 1, f"intro.md should list {name} once"
    path.write_text(text)


if __name__ == "__main__":
    if "--update-intro" in sys.argv:
        update_intro()
    for name, skipped in FAST_ROUTE.items():
        notebook = load(name)
        total, fast = rounded(chapter_minutes(notebook)), rounded(fast_minutes(notebook, skipped))
        print(f"{name:20} {total:4} min, fast route {fast:4}")
    full, fast = route_minutes()
    print(f"{'book':20} {full / 60:.1f} h, fast route {fast / 60:.1f} h")
