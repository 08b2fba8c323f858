"""A small real English corpus that ships with Python itself, so nothing is downloaded.

`pydoc_data.topics` holds the prose of the Python Language Reference that `help()` shows:
about 65,000 words of careful technical English. We keep the paragraphs (about 33,000 words) and drop the
code examples and grammar rules (indented lines), tables and the underlined headings.
"""

import re
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
