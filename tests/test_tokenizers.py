"""Tokenizers round-trip text and map the unseen to <unk>."""

import pytest

from lib.tokenizers import UNK_ID, CharTokenizer, Vocabulary, WordTokenizer


def test_char_tokenizer_round_trips():
    tokenizer = CharTokenizer.from_text("hello world")
    assert tokenizer.decode(tokenizer.encode("hello")) == "hello"
    assert tokenizer.encode("z") == [UNK_ID]


def test_word_tokenizer_splits_words_and_punctuation():
    tokenizer = WordTokenizer.from_text("The cat sat. The dog didn't!")
    assert tokenizer.split("The cat didn't sit.") == ["the", "cat", "didn't", "sit", "."]
    assert tokenizer.decode(tokenizer.encode("the dog sat .")) == "the dog sat ."
    assert tokenizer.vocabulary.tokens[4] == "the"  # most frequent first


def test_vocabulary_orders_by_count_then_alphabetically():
    vocabulary = Vocabulary.from_corpus([["b", "a", "c", "a"]], max_size=2)
    assert vocabulary.tokens[4:] == ["a", "b"]


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Vocabulary("abc"), "tokens must be a collection of strings, not one string \\('abc'\\)"),
        (lambda: Vocabulary(["a", 3]), "every token must be a non-empty str, got 3"),
        (lambda: Vocabulary(["a", ""]), "every token must be a non-empty str, got ''"),
        (lambda: Vocabulary(["a", "a"]), "vocabulary tokens must be unique"),
        (lambda: Vocabulary.from_corpus([["a"]], min_count=0), "min_count must be positive, got 0"),
        (lambda: Vocabulary.from_corpus([["a"]], max_size=0), "max_size must be positive, got 0"),
        (lambda: CharTokenizer(["a", "b"]), "vocabulary must be a Vocabulary, got list"),
        (lambda: WordTokenizer(None), "vocabulary must be a Vocabulary, got NoneType"),
        (lambda: CharTokenizer.from_text(b"bytes"), "text must be a str, got bytes"),
        (lambda: WordTokenizer.from_text("a b", max_size=-1), "max_size must be positive, got -1"),
    ],
)
def test_bad_tokenizer_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()
