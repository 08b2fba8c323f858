// The book's byte-level BPE tokenizer in the page: the same ids as lib/bpe.py for every text.
// Text -> UTF-8 bytes -> chunks (the same pattern as lib/bpe.py, run on a "binary string" with
// one character per byte, so JavaScript's Unicode rules never enter) -> merges inside each chunk,
// lowest rank (earliest learned) first. tests/site/test_generator.py compares it with lib/bpe.py.

const BPE_CHUNKS =
  / ?[A-Za-z\x80-\xff]+| ?[0-9]| ?[^ \t\n\r\x0b\x0cA-Za-z0-9\x80-\xff]+|[ \t\n\r\x0b\x0c]+(?![^ \t\n\r\x0b\x0c])|[ \t\n\r\x0b\x0c]+/g;
const BPE_CACHE_LIMIT = 10000; // chunks remembered; a long paste repeats most of its words

class BytePairTokenizer {
  // saved: {"specials": [...], "merges": [[left, right], ...]}, as lib/bpe.py writes it, and for a
  // chat model "added": [...], tokens after the last merge (lib/chat.py's ChatTokenizer).
  constructor(saved) {
    this.specials = saved.specials;
    this.firstByte = this.specials.length;
    this.bytes = this.specials.map(() => new Uint8Array(0));
    for (let b = 0; b < 256; b++) this.bytes.push(Uint8Array.of(b));
    this.ranks = new Map(); // left * size + right -> rank, for every merge
    this.size = this.firstByte + 256 + saved.merges.length;
    saved.merges.forEach(([left, right], rank) => {
      const id = this.firstByte + 256 + rank;
      if (!(left >= this.firstByte && left < id && right >= this.firstByte && right < id)) {
        throw new Error(`merge ${rank} uses an id that is not a byte or an earlier merge`);
      }
      const joined = new Uint8Array(this.bytes[left].length + this.bytes[right].length);
      joined.set(this.bytes[left]);
      joined.set(this.bytes[right], this.bytes[left].length);
      this.bytes.push(joined);
      this.ranks.set(left * this.size + right, rank);
    });
    this.added = saved.added || []; // no bytes: they vanish from decoded text, like the specials
    this.firstAdded = this.bytes.length;
    for (let k = 0; k < this.added.length; k++) this.bytes.push(new Uint8Array(0));
    this.cache = new Map();
    this.decoder = new TextDecoder("utf-8"); // replaces a cut-off character with U+FFFD
  }

  // Ids of `text`; special tokens never come from text.
  encode(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 8192) binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
    const ids = [];
    for (const chunk of binary.match(BPE_CHUNKS) || []) {
      let chunkIds = this.cache.get(chunk);
      if (!chunkIds) {
        chunkIds = this.encodeChunk(chunk);
        if (this.cache.size >= BPE_CACHE_LIMIT) this.cache.clear();
        this.cache.set(chunk, chunkIds);
      }
      for (const id of chunkIds) ids.push(id);
    }
    return ids;
  }

  // One chunk's merges in O(n log n): a heap of (rank, position) over a linked list of tokens. A
  // merge's parts are older than the merge, so every pair a merge of rank r creates has a rank above
  // r: the heap takes all pairs of rank r, left to right, before any newer one, exactly as the
  // spec's "merge every occurrence of the best pair, left to right, then look again" does.
  encodeChunk(chunk) {
    const n = chunk.length;
    const ids = new Int32Array(n);
    const next = new Int32Array(n);
    const previous = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      ids[i] = this.firstByte + chunk.charCodeAt(i);
      next[i] = i + 1 < n ? i + 1 : -1;
      previous[i] = i - 1;
    }
    const alive = new Uint8Array(n).fill(1);
    const heap = new MinHeap();
    const rankAt = (i) => {
      const j = next[i];
      if (j < 0) return undefined;
      return this.ranks.get(ids[i] * this.size + ids[j]);
    };
    const push = (i) => {
      const rank = rankAt(i);
      if (rank !== undefined) heap.push(rank, i);
    };
    for (let i = 0; i + 1 < n; i++) push(i);
    while (heap.length) {
      const [rank, i] = heap.pop();
      if (!alive[i] || rankAt(i) !== rank) continue; // stale: a neighbour changed since it was pushed
      const j = next[i];
      ids[i] = this.firstByte + 256 + rank;
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) previous[next[j]] = i;
      if (previous[i] >= 0) push(previous[i]);
      push(i);
    }
    const out = [];
    for (let i = 0; i >= 0 && i < n; i = next[i]) out.push(ids[i]);
    return out;
  }

  // The bytes of one id (nothing for a special token).
  tokenBytes(id) {
    if (!(id >= 0 && id < this.bytes.length)) throw new InputError(`id ${id} is outside the vocabulary [0, ${this.bytes.length})`);
    return this.bytes[id];
  }

  // Whether `id` starts at a character boundary: not with a UTF-8 continuation byte (10xxxxxx).
  startsCharacter(id) {
    const bytes = this.tokenBytes(id);
    return !bytes.length || (bytes[0] & 0xc0) !== 0x80;
  }

  // Text of `ids`; bytes that cut a character show as U+FFFD, as lib's decode(errors="replace").
  decode(ids) {
    const parts = ids.map((id) => this.tokenBytes(id));
    const joined = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
    let at = 0;
    for (const part of parts) {
      joined.set(part, at);
      at += part.length;
    }
    return this.decoder.decode(joined);
  }

  // One token as readable text: its special name, or its bytes decoded on their own.
  tokenText(id) {
    if (id >= this.firstAdded && id < this.bytes.length) return this.added[id - this.firstAdded];
    return id < this.firstByte ? this.specials[id] : this.decoder.decode(this.tokenBytes(id));
  }

  // The id of an added token, by name.
  addedId(name) {
    const index = this.added.indexOf(name);
    if (index < 0) throw new Error(`the tokenizer has no added token ${name}`);
    return this.firstAdded + index;
  }
}

// A binary min-heap of (key, position) pairs; ties go to the smaller position (the leftmost pair).
class MinHeap {
  constructor() {
    this.keys = [];
    this.positions = [];
  }

  get length() {
    return this.keys.length;
  }

  less(a, b) {
    return this.keys[a] < this.keys[b] || (this.keys[a] === this.keys[b] && this.positions[a] < this.positions[b]);
  }

  swap(a, b) {
    [this.keys[a], this.keys[b]] = [this.keys[b], this.keys[a]];
    [this.positions[a], this.positions[b]] = [this.positions[b], this.positions[a]];
  }

  push(key, position) {
    this.keys.push(key);
    this.positions.push(position);
    for (let i = this.keys.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop() {
    const top = [this.keys[0], this.positions[0]];
    const last = this.keys.length - 1;
    this.swap(0, last);
    this.keys.pop();
    this.positions.pop();
    for (let i = 0; ; ) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < last && this.less(left, smallest)) smallest = left;
      if (right < last && this.less(right, smallest)) smallest = right;
      if (smallest === i) break;
      this.swap(i, smallest);
      i = smallest;
    }
    return top;
  }
}
