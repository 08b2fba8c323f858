"""Tokenizers round-trip text and map the unseen to <unk>."""

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
