"""The offline corpus is real English prose and is the same on every run."""

import pytest
import torch

from lib.corpus import (
    consecutive_windows,
    english_corpus,
    python_code_corpus,
    python_reference_paragraphs,
    python_reference_text,
    random_windows,
    word_level_corpus,
)
from lib.tokenizers import WordTokenizer


def test_corpus_is_prose_of_useful_size():
    paragraphs = python_reference_paragraphs()
    words = WordTokenizer.split(python_reference_text())
    assert len(words) > 20_000
    assert not any(p.startswith(" ") for p in paragraphs)
    assert words.count("the") > 1000
    assert python_reference_paragraphs() == paragraphs


def test_tables_are_not_prose():
    assert not any(p.startswith(("+", "|")) for p in python_reference_paragraphs())


def test_word_level_corpus_holds_out_the_last_paragraphs():
    tokenizer, training_ids, validation_ids = word_level_corpus(max_vocab=300)
    assert len(tokenizer.vocabulary) == 304  # 300 words and 4 special tokens
    assert 0.05 < len(validation_ids) / (len(training_ids) + len(validation_ids)) < 0.2
    assert int(training_ids.max()) < 304 and int(validation_ids.min()) >= 0


def test_windows_are_consecutive_text():
    ids = torch.arange(100)
    batch = next(random_windows(ids, batch_size=4, length=10, generator=torch.Generator().manual_seed(0)))
    assert batch.shape == (4, 10)
    assert torch.equal(batch[:, 1:] - batch[:, :-1], torch.ones(4, 9, dtype=torch.long))
    assert consecutive_windows(ids, 30).tolist() == [list(range(0, 30)), list(range(30, 60)), list(range(60, 90))]


def test_too_short_text_for_windows_is_named():
    with pytest.raises(ValueError, match="need more than 10 ids"):
        next(random_windows(torch.arange(10), 2, 10))


def test_english_corpus_is_large_and_no_validation_paragraph_occurs_in_the_training_text():
    corpus = english_corpus()
    assert len(corpus.training_text) > 1_000_000 and len(corpus.validation_text) > 50_000
    assert not any(p in corpus.training_text for p in corpus.validation_paragraphs)
    assert not set(corpus.training_sources) & set(corpus.validation_sources)
    assert not any(p.startswith((" ", ">>>")) for p in corpus.training_paragraphs)
    assert english_corpus() is corpus  # built once per process


def test_code_corpus_holds_out_whole_files_that_all_parse():
    corpus = python_code_corpus()
    assert not set(corpus.training_files) & set(corpus.validation_files)
    assert len(corpus.training_files) == pytest.approx(9 * len(corpus.validation_files), abs=9)
    assert len(corpus.training_text) > 8_000_000  # the standard library is large enough to need no download
    for name in ("json/decoder.py", "collections/__init__.py"):  # a held-out module and a training one
        assert name in corpus.training_files + corpus.validation_files
