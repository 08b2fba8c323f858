"""Tokenizers turn text into ids and back: one id per character or per word.

Every vocabulary starts with four special tokens: padding (fills short sequences),
beginning and end of sequence (tell the decoder where to start and stop), and unknown
(stands for anything the vocabulary has never seen).
"""

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from lib.validation import check_positive_int

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
WORD_PATTERN = re.compile(r"[a-z0-9_]+(?:'[a-z]+)?|[^\sa-z0-9_]")  # words keep inner "_" and "'"


class Vocabulary:
    """A two-way map between tokens (strings) and ids (ints); ids 0-3 are the special tokens."""

    def __init__(self, tokens: Iterable[str]):
        tokens = check_tokens(tokens)
        self.tokens = list(SPECIAL_TOKENS) + [t for t in tokens if t not in SPECIAL_TOKENS]
        self.index = {token: i for i, token in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("vocabulary tokens must be unique")

    @classmethod
    def from_corpus(cls, tokenized: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None):
        """Most frequent tokens first (ties broken alphabetically, so the order is reproducible).

        `min_count`: the fewest occurrences a token needs; `max_size`: the most tokens kept besides the
        specials (None: all).
        """
        check_positive_int("min_count", min_count)
        if max_size is not None:
            check_positive_int("max_size", max_size)
        counts = Counter(token for tokens in tokenized for token in tokens)
        ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls(ranked[:max_size] if max_size else ranked)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.index.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> list[str]:
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise IndexError(f"id {i} is outside the vocabulary [0, {len(self.tokens)})")
            if skip_special and i < len(SPECIAL_TOKENS):
                continue
            out.append(self.tokens[i])
        return out


def check_tokens(tokens: Iterable[str]) -> list[str]:
    """The tokens as a list, each a non-empty str; a bare str is refused (it would become its characters)."""
    if isinstance(tokens, str):
        raise ValueError(f"tokens must be a collection of strings, not one string ({tokens[:20]!r})")
    tokens = list(tokens)
    for token in tokens:
        if not isinstance(token, str) or not token:
            raise ValueError(f"every token must be a non-empty str, got {token!r}")
    return tokens


def check_vocabulary(vocabulary: object) -> None:
    if not isinstance(vocabulary, Vocabulary):
        raise ValueError(f"vocabulary must be a Vocabulary, got {type(vocabulary).__name__}")


def check_text(text: object) -> None:
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")


class CharTokenizer:
    """One token per character."""

    def __init__(self, vocabulary: Vocabulary):
        check_vocabulary(vocabulary)
        self.vocabulary = vocabulary

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        check_text(text)
        return cls(Vocabulary(sorted(set(text))))

    def split(self, text: str) -> list[str]:
        return list(text)

    def encode(self, text: str) -> list[int]:
        return self.vocabulary.encode(self.split(text))

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.vocabulary.decode(ids))


class WordTokenizer:
    """Lower-cased words and single punctuation marks; rare words can be left to <unk>."""

    def __init__(self, vocabulary: Vocabulary):
        check_vocabulary(vocabulary)
        self.vocabulary = vocabulary

    @staticmethod
    def split(text: str) -> list[str]:
        return WORD_PATTERN.findall(text.lower())

    @classmethod
    def from_text(cls, text: str, min_count: int = 1, max_size: int | None = None) -> "WordTokenizer":
        check_text(text)
        return cls(Vocabulary.from_corpus([cls.split(text)], min_count, max_size))

    def encode(self, text: str) -> list[int]:
        return self.vocabulary.encode(self.split(text))

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.vocabulary.decode(ids))
