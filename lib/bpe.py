"""Byte-level byte-pair encoding (BPE): the tokenizer of GPT-2, written out in full.

Text becomes UTF-8 bytes, so every string has ids and there is never an unknown token.
Training starts from the 256 single bytes and repeatedly merges the most frequent adjacent
pair into a new token (Sennrich et al. 2016; byte-level as in Radford et al. 2019).
Merges never cross the boundary of a pre-tokenized chunk: a word, one digit or a run of
punctuation, each with the space before it if there is one, or a run of whitespace. A "word" is a
run of ASCII letters and of any non-ASCII bytes, while spaces and punctuation are ASCII only. So a
token never joins two words that ASCII whitespace, punctuation or a digit separates, but words
joined by a non-ASCII character ("end—start" with an em dash, curly quotes, a no-break space)
make one chunk, and a token may span them.

The ids: the special tokens first, then the 256 bytes, then one id per merge in the order
learned. The page's JavaScript tokenizer follows exactly these rules (chunk pattern, ids, merge
order, the JSON form of `save`), so both give the same ids for the same text.
"""

import heapq
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")  # the same ids as lib.tokenizers' PAD_ID, BOS_ID, EOS_ID
WHITESPACE = rb" \t\n\r\x0b\x0c"  # ASCII whitespace only, so the browser's tokenizer splits the same way
CHUNK_PATTERN = re.compile(
    rb" ?[A-Za-z\x80-\xff]+"  # a word (letters and every non-ASCII byte) with its leading space
    rb"| ?[0-9]"  # one digit: numbers are spelled digit by digit
    rb"| ?[^" + WHITESPACE + rb"A-Za-z0-9\x80-\xff]+"  # a run of punctuation or control characters
    rb"|[" + WHITESPACE + rb"]+(?![^" + WHITESPACE + rb"])"  # whitespace, leaving its last space to the next word
    rb"|[" + WHITESPACE + rb"]+"
)

Pair = tuple[int, int]


def split_into_chunks(data: bytes) -> list[bytes]:
    """The pre-tokenized chunks of `data`; joined together they give `data` back exactly."""
    return CHUNK_PATTERN.findall(data)


def text_to_bytes(text: str) -> bytes:
    """UTF-8 bytes of `text`, with a clear error for strings that have no UTF-8 form (lone surrogates)."""
    if not isinstance(text, str):
        raise TypeError(f"the tokenizer encodes str, got {type(text).__name__}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"text has no UTF-8 form: {error.reason} at character {error.start} ({text[error.start]!r})"
        ) from None


def merge_pair(ids: list[int], pair: Pair, new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids`, left to right without overlaps, by `new_id`."""
    merged, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


def learn_merges(chunk_counts: dict[bytes, int], num_merges: int, first_id: int) -> list[Pair]:
    """Up to `num_merges` merges, most frequent adjacent pair first (ties: the smallest (left, right)).

    Pair counts are kept up to date incrementally: a merge re-counts only the chunks that contain
    the merged pair, and a heap with lazy deletion finds the most frequent pair. Stops early when
    no pair occurs at least twice. Byte b has id `first_id + b`; merge k gets `first_id + 256 + k`.
    """
    chunks = [[first_id + b for b in chunk] for chunk in chunk_counts]  # each distinct chunk once
    weights = list(chunk_counts.values())
    pair_counts: Counter[Pair] = Counter()
    chunks_with_pair: dict[Pair, set[int]] = {}
    for index, ids in enumerate(chunks):
        for pair in pairwise(ids):
            pair_counts[pair] += weights[index]
            chunks_with_pair.setdefault(pair, set()).add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[Pair] = []
    while len(merges) < num_merges and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative_count:
            continue  # a stale entry: this pair's count changed since it was pushed
        if -negative_count < 2:
            break
        new_id = first_id + 256 + len(merges)
        merges.append(pair)
        changed: set[Pair] = set()
        for index in chunks_with_pair.pop(pair):
            old = chunks[index]
            for old_pair in pairwise(old):
                pair_counts[old_pair] -= weights[index]
                changed.add(old_pair)
            new = merge_pair(old, pair, new_id)
            chunks[index] = new
            for new_pair in pairwise(new):
                pair_counts[new_pair] += weights[index]
                chunks_with_pair.setdefault(new_pair, set()).add(index)
                changed.add(new_pair)
        for changed_pair in changed:
            count = pair_counts[changed_pair]
            if count > 0:
                heapq.heappush(heap, (-count, changed_pair))
            else:
                del pair_counts[changed_pair]
                chunks_with_pair.pop(changed_pair, None)
    return merges


class BytePairTokenizer:
    """Byte-level BPE: `train(text, vocab_size)` learns merges; `encode` / `decode` map text to ids and back.

    A fresh tokenizer knows no merges yet and refuses to encode; train it or `load` a saved one.
    """

    def __init__(self, specials: Sequence[str] = SPECIAL_TOKENS):
        if isinstance(specials, str) or not all(isinstance(s, str) and s for s in specials):
            raise ValueError(f"specials must be a sequence of non-empty strings, got {specials!r}")
        if len(set(specials)) != len(specials):
            raise ValueError(f"special tokens must be unique, got {list(specials)}")
        self.specials = list(specials)
        self.merges: list[Pair] | None = None  # None until trained or loaded
        self._token_bytes: list[bytes] = []
        self._ranks: dict[Pair, int] = {}
        self._cache: dict[bytes, list[int]] = {}

    # --- sizes and ids -------------------------------------------------------------------------
    @property
    def first_byte_id(self) -> int:
        return len(self.specials)

    def byte_id(self, byte: int) -> int:
        return self.first_byte_id + byte

    @property
    def vocab_size(self) -> int:
        """Specials + 256 bytes + merges."""
        self._check_trained()
        return len(self._token_bytes)

    def special_id(self, name: str) -> int:
        if name not in self.specials:
            raise KeyError(f"{name!r} is not one of the special tokens {self.specials}")
        return self.specials.index(name)

    # --- training ------------------------------------------------------------------------------
    def train(self, text: str, vocab_size: int) -> "BytePairTokenizer":
        """Learn merges on `text` until the vocabulary has `vocab_size` tokens (or no pair occurs twice)."""
        smallest = len(self.specials) + 256
        if vocab_size < smallest:
            raise ValueError(f"vocab_size must be at least {smallest} (specials + 256 bytes), got {vocab_size}")
        chunk_counts = Counter(split_into_chunks(text_to_bytes(text)))
        self._set_merges(learn_merges(chunk_counts, vocab_size - smallest, self.first_byte_id))
        return self

    def _set_merges(self, merges: Iterable[Sequence[int]]) -> None:
        merges = [(int(left), int(right)) for left, right in merges]
        token_bytes = [b""] * len(self.specials) + [bytes([b]) for b in range(256)]
        for k, (left, right) in enumerate(merges):
            new_id = len(token_bytes)
            for part in (left, right):
                if not self.first_byte_id <= part < new_id:
                    raise ValueError(f"merge {k} uses id {part}, which is not a byte or an earlier merge")
            token_bytes.append(token_bytes[left] + token_bytes[right])
        self.merges, self._token_bytes = merges, token_bytes
        self._ranks = {pair: rank for rank, pair in enumerate(merges)}
        self._cache = {}

    def _check_trained(self) -> None:
        if self.merges is None:
            raise RuntimeError(
                "this tokenizer has not been trained: call train(text, vocab_size) or load a saved one first"
            )

    # --- encoding and decoding -----------------------------------------------------------------
    def encode_chunk(self, chunk: bytes) -> list[int]:
        """Merge a chunk's byte ids, lowest-ranked (earliest learned) merge first, until none applies."""
        if chunk in self._cache:
            return self._cache[chunk]
        ids = [self.first_byte_id + b for b in chunk]
        while len(ids) > 1:
            ranked = [self._ranks.get(pair) for pair in pairwise(ids)]
            best = min((rank for rank in ranked if rank is not None), default=None)
            if best is None:
                break
            ids = merge_pair(ids, self.merges[best], self.first_byte_id + 256 + best)
        self._cache[chunk] = ids
        return ids

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Ids of `text`; special tokens are never produced from text, only added here on request."""
        self._check_trained()
        ids = [self.special_id("<bos>")] if add_bos else []
        for chunk in split_into_chunks(text_to_bytes(text)):
            ids.extend(self.encode_chunk(chunk))
        if add_eos:
            ids.append(self.special_id("<eos>"))
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one id stands for (empty for a special token)."""
        self._check_trained()
        token_id = int(token_id)
        if not 0 <= token_id < len(self._token_bytes):
            raise IndexError(f"id {token_id} is outside the vocabulary [0, {len(self._token_bytes)})")
        return self._token_bytes[token_id]

    def decode(self, ids: Iterable[int], show_specials: bool = False) -> str:
        """Text of `ids`. A cut-off character becomes U+FFFD; specials vanish unless `show_specials`."""
        self._check_trained()
        parts = []
        for token_id in ids:
            token = self.token_bytes(token_id)  # raises for an id outside the vocabulary
            if int(token_id) < len(self.specials) and show_specials:
                token = self.specials[int(token_id)].encode()
            parts.append(token)
        return b"".join(parts).decode("utf-8", errors="replace")

    def tokens(self, text: str) -> list[str]:
        """Each token of `text` as readable text (bytes that cut a character show as U+FFFD)."""
        return [self.token_bytes(i).decode("utf-8", errors="replace") for i in self.encode(text)]

    # --- saving --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        self._check_trained()
        return {"specials": list(self.specials), "merges": [list(pair) for pair in self.merges]}

    @classmethod
    def from_dict(cls, saved: dict) -> "BytePairTokenizer":
        tokenizer = cls(saved["specials"])
        tokenizer._set_merges(saved["merges"])
        return tokenizer

    def save(self, path: str | Path) -> None:
        """Write the JSON form the page's tokenizer reads: {"specials": [...], "merges": [[left, right], ...]}."""
        Path(path).write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "BytePairTokenizer":
        return cls.from_dict(json.loads(Path(path).read_text()))
