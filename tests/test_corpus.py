"""The offline corpus is real English prose and is the same on every run."""

from lib.corpus import python_reference_paragraphs, python_reference_text
from lib.tokenizers import WordTokenizer


def test_corpus_is_prose_of_useful_size():
    paragraphs = python_reference_paragraphs()
    words = WordTokenizer.split(python_reference_text())
    assert len(words) > 20_000
    assert not any(p.startswith(" ") for p in paragraphs)
    assert words.count("the") > 1000
    assert python_reference_paragraphs() == paragraphs
