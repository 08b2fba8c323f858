"""Real English corpora that ship with Python itself, so nothing is downloaded.

`pydoc_data.topics` holds the prose of the Python Language Reference that `help()` shows:
about 65,000 words of careful technical English. We keep the paragraphs (about 33,000 words) and drop the
code examples and grammar rules (indented lines), tables and the underlined headings.

`english_corpus()` adds the prose of the standard library's docstrings (read from its source
files, never imported) for the GPT chapter: over six times more prose, split by source so
that validation paragraphs come from modules and topics the training text never saw.
"""

import ast
import functools
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from pydoc_data.topics import topics

import torch
from torch import Tensor

from lib.tokenizers import WordTokenizer

HEADING_UNDERLINE = re.compile(r"^[*=\-~^]+$")


def python_reference_paragraphs() -> list[str]:
    """The reference's prose paragraphs, each joined onto one line, in a fixed order."""
    paragraphs = []
    for name in sorted(topics):
        for block in topics[name].split("\n\n"):
            lines = [line for line in block.split("\n") if line.strip()]
            if not lines or any(line.startswith(" ") for line in lines):
                continue  # code, grammar or an indented note
            if any(line.startswith(("+", "|")) for line in lines):
                continue  # a table drawn with +---+ and | characters
            if len(lines) == 2 and HEADING_UNDERLINE.match(lines[1].strip()):
                continue  # a section heading
            paragraphs.append(" ".join(line.strip() for line in lines))
    return paragraphs


def python_reference_text() -> str:
    """All prose paragraphs as one string, separated by blank lines."""
    return "\n\n".join(python_reference_paragraphs())


def word_level_corpus(max_vocab: int = 1500, validation_fraction: float = 0.1):
    """The reference text as word ids: (tokenizer, training ids, validation ids).

    The vocabulary keeps the `max_vocab` most frequent words (rarer ones become <unk>); the last
    `validation_fraction` of the paragraphs are held out.
    """

    paragraphs = python_reference_paragraphs()
    split = int(len(paragraphs) * (1 - validation_fraction))
    training_text = "\n\n".join(paragraphs[:split])
    tokenizer = WordTokenizer.from_text(training_text, max_size=max_vocab)
    validation_text = "\n\n".join(paragraphs[split:])
    training_ids = torch.tensor(tokenizer.encode(training_text), dtype=torch.long)
    validation_ids = torch.tensor(tokenizer.encode(validation_text), dtype=torch.long)
    return tokenizer, training_ids, validation_ids


def random_windows(ids: Tensor, batch_size: int, length: int, generator: torch.Generator | None = None):
    """Endless batches (batch_size, length) of consecutive ids starting at random places."""
    if len(ids) <= length:
        raise ValueError(f"need more than {length} ids for windows of that length, got {len(ids)}")
    offsets = torch.arange(length)
    while True:
        starts = torch.randint(0, len(ids) - length, (batch_size,), generator=generator)
        yield ids[starts[:, None] + offsets]  # (batch_size, length)


def consecutive_windows(ids: Tensor, length: int) -> Tensor:
    """Non-overlapping windows (count, length) covering `ids`, for a deterministic evaluation."""
    count = len(ids) // length
    return ids[: count * length].view(count, length)


# Folders of the standard library whose docstrings are not the library's own prose.
SKIPPED_STDLIB_FOLDERS = frozenset(
    {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "turtledemo", "ensurepip"}
)
MIN_WORDS = 8  # shorter docstring paragraphs are mostly one-line summaries and parameter names
MIN_LETTER_FRACTION = 0.85  # letters and spaces; lower means a signature, table or code
VALIDATION_EVERY = 10  # every 10th source (module or reference topic) is held out for validation


def prose_paragraphs(text: str) -> list[str]:
    """The blocks of `text` that read as prose, each joined onto one line.

    Blocks with indented lines (code, option lists), doctest prompts, tables, short blocks and
    blocks that are mostly not letters are dropped.
    """
    paragraphs = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines or any(line.startswith(" ") for line in lines):
            continue
        if any(line.lstrip().startswith((">>>", "...", "+", "|")) for line in lines):
            continue
        paragraph = " ".join(line.strip() for line in lines)
        letters = sum(c.isalpha() or c == " " for c in paragraph)
        if len(paragraph.split()) >= MIN_WORDS and letters >= MIN_LETTER_FRACTION * len(paragraph):
            paragraphs.append(paragraph)
    return paragraphs


def stdlib_source_files() -> list[Path]:
    """The standard library's .py files in a fixed order, without its tests and bundled tools."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(path for path in root.rglob("*.py") if not SKIPPED_STDLIB_FOLDERS & set(path.relative_to(root).parts))


def docstrings(source: bytes) -> list[str]:
    """Every module, class and function docstring of one Python source file, read with `ast` (nothing runs)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return [text for node in ast.walk(tree) if isinstance(node, kinds) and (text := ast.get_docstring(node))]


@functools.cache
def english_sources() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(source name, its prose paragraphs) for each reference topic and standard-library module.

    A paragraph that occurs twice anywhere is kept only the first time, so no text is counted twice.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    sources = [(f"reference:{name}", topics[name]) for name in sorted(topics)]
    for path in stdlib_source_files():
        sources.append((f"stdlib:{path.relative_to(root)}", "\n\n".join(docstrings(path.read_bytes()))))
    seen, kept = set(), []
    for name, text in sources:
        paragraphs = tuple(p for p in dict.fromkeys(prose_paragraphs(text)) if p not in seen)
        seen.update(paragraphs)
        if paragraphs:
            kept.append((name, paragraphs))
    return tuple(kept)


@dataclass(frozen=True)
class EnglishCorpus:
    """The GPT chapter's text: paragraphs joined by blank lines, split by source into training and validation."""

    training_text: str
    validation_text: str
    training_sources: tuple[str, ...]
    validation_sources: tuple[str, ...]

    @property
    def validation_paragraphs(self) -> list[str]:
        return self.validation_text.split("\n\n")

    @property
    def training_paragraphs(self) -> list[str]:
        return self.training_text.split("\n\n")


@functools.cache
def english_corpus() -> EnglishCorpus:
    """The Language Reference and the standard library's docstrings, every VALIDATION_EVERY-th source held out.

    Holding out whole sources (not random paragraphs) keeps near-copies of a validation paragraph,
    which sit in the same module, out of training; exact copies were removed in `english_sources`,
    and a validation paragraph that occurs inside the training text (a sentence quoted in a longer
    paragraph) is dropped.
    """
    training, validation = [], []
    for index, source in enumerate(english_sources()):
        (validation if index % VALIDATION_EVERY == VALIDATION_EVERY - 1 else training).append(source)
    training_text = "\n\n".join(p for _, paragraphs in training for p in paragraphs)
    return EnglishCorpus(
        training_text=training_text,
        validation_text="\n\n".join(p for _, paragraphs in validation for p in paragraphs if p not in training_text),
        training_sources=tuple(name for name, _ in training),
        validation_sources=tuple(name for name, _ in validation),
    )


@dataclass(frozen=True)
class CodeCorpus:
    """The capstone's text: standard-library source files, whole, split by file into training and validation."""

    training_text: str
    validation_text: str
    training_files: tuple[str, ...]
    validation_files: tuple[str, ...]


@functools.cache
def python_code_corpus() -> CodeCorpus:
    """Python's own standard library, as source code: every VALIDATION_EVERY-th file is held out.

    The files of `stdlib_source_files()` (no tests, no bundled tools), each ending in one newline,
    separated by a blank line; files that are not UTF-8 or that do not parse are left out. Whole
    files are held out, so a validation function never sits in a module the training text contains.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    kept = []
    for path in stdlib_source_files():
        try:
            source = path.read_text(encoding="utf-8")
            ast.parse(source)
        except (UnicodeDecodeError, SyntaxError, ValueError):
            continue
        kept.append((str(path.relative_to(root)), source.rstrip("\n") + "\n"))
    validation = kept[VALIDATION_EVERY - 1 :: VALIDATION_EVERY]
    training = [file for index, file in enumerate(kept) if index % VALIDATION_EVERY != VALIDATION_EVERY - 1]
    return CodeCorpus(
        training_text="\n".join(text for _, text in training),
        validation_text="\n".join(text for _, text in validation),
        training_files=tuple(name for name, _ in training),
        validation_files=tuple(name for name, _ in validation),
    )
