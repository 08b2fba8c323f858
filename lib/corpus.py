"""A small real English corpus that ships with Python itself, so nothing is downloaded.

`pydoc_data.topics` holds the prose of the Python Language Reference that `help()` shows:
about 65,000 words of careful technical English. We keep the paragraphs and drop the
code examples and grammar rules (indented lines) and the underlined headings.
"""

import re
from pydoc_data.topics import topics

HEADING_UNDERLINE = re.compile(r"^[*=\-~^]+$")


def python_reference_paragraphs() -> list[str]:
    """The reference's prose paragraphs, each joined onto one line, in a fixed order."""
    paragraphs = []
    for name in sorted(topics):
        for block in topics[name].split("\n\n"):
            lines = [line for line in block.split("\n") if line.strip()]
            if not lines or any(line.startswith(" ") for line in lines):
                continue  # code, grammar or an indented note
            if len(lines) == 2 and HEADING_UNDERLINE.match(lines[1].strip()):
                continue  # a section heading
            paragraphs.append(" ".join(line.strip() for line in lines))
    return paragraphs


def python_reference_text() -> str:
    """All prose paragraphs as one string, separated by blank lines."""
    return "\n\n".join(python_reference_paragraphs())
