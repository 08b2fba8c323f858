"""Byte-level BPE: every string round-trips exactly, training is deterministic with the stated tie
rule, encoding follows the merges' order, and the saved JSON rebuilds the same tokenizer."""

import json
from collections import Counter
from itertools import pairwise

import pytest

from lib.bpe import CHUNK_PATTERN, BytePairTokenizer, learn_merges, merge_pair, split_into_chunks

TEXT = (
    "The interpreter reads the program. The program reads the input, and the interpreter "
    "prints the output. Lower lowest newer newest wider widest 1234 + 5678 = 6912.\n\n"
) * 20


@pytest.fixture(scope="module")
def tokenizer():
    return BytePairTokenizer().train(TEXT, 300)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain ascii",
        "café naïve Größe",
        "日本語のテキスト",
        "emoji 🎉👩‍👩‍👧 and flags 🇫🇷",
        "control \x00\x01\x1b[31m\x7f chars\ttab\r\n",
        "  leading and trailing spaces   ",
        "\n\n\n",
        "x" * 10_000,
        "".join(chr(c) for c in range(0x20, 0x3000, 7)) * 3,
    ],
)
def test_every_string_round_trips_exactly(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert all(3 <= i < tokenizer.vocab_size for i in ids)  # only byte and merge ids: no <unk> exists


def test_chunks_cover_every_byte_and_keep_words_apart():
    data = "Hello,  world!\n\n  x = 42 café🎉".encode()
    chunks = split_into_chunks(data)
    assert b"".join(chunks) == data
    assert chunks == [b"Hello", b",", b" ", b" world", b"!", b"\n\n ", b" x", b" =", b" 4", b"2",
                      " café🎉".encode()]  # fmt: skip
    assert CHUNK_PATTERN.pattern.startswith(rb" ?[A-Za-z\x80-\xff]+")


def test_words_joined_by_a_non_ascii_character_are_one_chunk():
    """Every non-ASCII byte counts as a letter, so only ASCII spaces, punctuation and digits split words."""
    for text in ("end\u2014start", "a\u00a0b", "\u201cquoted\u201d"):  # em dash, no-break space, curly quotes
        assert split_into_chunks(text.encode()) == [text.encode()]
    assert split_into_chunks(b"end-start") == [b"end", b"-", b"start"]  # an ASCII hyphen splits


def test_ids_are_specials_then_bytes_then_merges(tokenizer):
    assert tokenizer.specials == ["<pad>", "<bos>", "<eos>"]
    assert tokenizer.vocab_size == 3 + 256 + len(tokenizer.merges) == 300
    assert tokenizer.encode("A") == [3 + ord("A")]
    left, right = tokenizer.merges[0]
    assert tokenizer.token_bytes(259) == tokenizer.token_bytes(left) + tokenizer.token_bytes(right)
    assert tokenizer.encode("x", add_bos=True, add_eos=True) == [1, 3 + ord("x"), 2]
    assert tokenizer.decode([1, 3 + ord("x"), 2], show_specials=True) == "<bos>x<eos>"


def test_merges_follow_pair_counts_and_ties_take_the_smallest_pair():
    # "ab" occurs 3 times, "cd" 3 times: a tie, broken by the smaller (left, right) ids, i.e. "ab" first.
    merges = learn_merges({b"cdab": 1, b"ab": 2, b"cd": 2}, 10, first_id=0)
    assert merges[:2] == [(ord("a"), ord("b")), (ord("c"), ord("d"))]


def test_training_stops_when_no_pair_occurs_twice():
    merges = learn_merges({b"cdab": 1, b"ab": 2, b"cd": 2}, 10, first_id=0)
    assert merges == [(ord("a"), ord("b")), (ord("c"), ord("d"))]


def test_incremental_counts_equal_recounting_from_scratch():
    chunks = Counter(split_into_chunks(TEXT.encode()))
    fast = learn_merges(chunks, 40, first_id=3)
    words = {tuple(3 + b for b in chunk): count for chunk, count in chunks.items()}
    slow = []
    for k in range(40):
        counts = {}
        for ids, count in words.items():
            for pair in pairwise(ids):
                counts[pair] = counts.get(pair, 0) + count
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        if counts[best] < 2:
            break
        slow.append(best)
        words = {tuple(merge_pair(list(ids), best, 3 + 256 + k)): count for ids, count in words.items()}
    assert fast == slow


def test_encoding_applies_the_earliest_learned_merge_first(tokenizer):
    text = " interpreter"
    ids = [3 + b for b in text.encode()]
    while True:  # the spec's rule, written out: lowest-rank pair, all of its occurrences, repeat
        ranks = {pair: tokenizer.merges.index(pair) for pair in pairwise(ids) if pair in tokenizer.merges}
        if not ranks:
            break
        best = min(ranks.values())
        ids = merge_pair(ids, tokenizer.merges[best], 259 + best)
    assert tokenizer.encode(text) == ids
    assert len(ids) <= 2  # a frequent word of the training text is one or two tokens


def test_training_is_deterministic_and_json_rebuilds_it(tokenizer, tmp_path):
    again = BytePairTokenizer().train(TEXT, 300)
    assert again.merges == tokenizer.merges
    tokenizer.save(tmp_path / "bpe.json")
    saved = json.loads((tmp_path / "bpe.json").read_text())
    assert saved == {"specials": ["<pad>", "<bos>", "<eos>"], "merges": [list(p) for p in tokenizer.merges]}
    loaded = BytePairTokenizer.load(tmp_path / "bpe.json")
    assert loaded.encode(TEXT) == tokenizer.encode(TEXT)


def test_bad_input_is_named(tokenizer):
    with pytest.raises(RuntimeError, match="has not been trained"):
        BytePairTokenizer().encode("hello")
    with pytest.raises(IndexError, match="id 300 is outside the vocabulary"):
        tokenizer.decode([5, 300])
    with pytest.raises(ValueError, match="no UTF-8 form"):
        tokenizer.encode("lone \ud800 surrogate")
    with pytest.raises(ValueError, match="vocab_size must be at least 259"):
        BytePairTokenizer().train("abc", 100)
    with pytest.raises(TypeError, match="encodes str"):
        tokenizer.encode(b"bytes")
    with pytest.raises(ValueError, match="merge 0 uses id 400"):
        BytePairTokenizer.from_dict({"specials": ["<pad>"], "merges": [[400, 5]]})


@pytest.mark.parametrize(
    "specials",
    [("<pad>", "<pad>"), "<pad>", ("<pad>", ""), ("<pad>", 3)],
    ids=["repeated", "one string", "empty", "not a str"],
)
def test_bad_special_tokens_are_named(specials):
    with pytest.raises(ValueError, match="special"):
        BytePairTokenizer(specials)
