// A lib transformer, run in the reader's browser: the book's own code, no libraries, no network.
// It mirrors lib/model.py, lib/layers.py, lib/attention.py, lib/positional.py and
// lib/embedding.py step by step, in float64 like the explorer's kernel path, and greedy
// decoding as lib/decoding.py does it. The weights come from lib/widget/payload.py
// (`encode_model`): float32 or (exactly) float16, split into byte planes, deflated, base85.
// The tests in tests/site/test_attention_explorer.py compare it with PyTorch.

// An input the model cannot take; its message is shown to the reader.
class InputError extends Error {}

// As in lib/widget/explorer.py: a vocabulary up to LISTED_SYMBOLS is listed; a larger one is named
// by its first EXAMPLE_SYMBOLS, or by up to SIMILAR_SYMBOLS known words within SIMILAR_DISTANCE edits.
const LISTED_SYMBOLS = 40;
const EXAMPLE_SYMBOLS = 8;
const SIMILAR_SYMBOLS = 5;
const SIMILAR_DISTANCE = 2;
const EXCERPT_LENGTH = 20; // an error quotes at most this many characters of the input ("…" included)

// lib/widget/explorer.py's `splits_character`, on code points: a cut before a combining mark, a
// zero-width joiner or a skin-tone modifier, after a joiner, or inside a flag splits a character.
function splitsCharacter(points, at) {
  const before = points[at - 1];
  const after = points[at];
  if (/\p{M}/u.test(after) || before === "\u200d" || after === "\u200d") return true;
  const code = after.codePointAt(0);
  if (code >= 0x1f3fb && code <= 0x1f3ff) return true;
  const regional = (point) => point !== undefined && point.codePointAt(0) >= 0x1f1e6 && point.codePointAt(0) <= 0x1f1ff;
  if (regional(before) && regional(after)) {
    let run = 0; // regional indicators pair up from the first of a run: a flag is two of them
    while (regional(points[at - 1 - run])) run += 1;
    return run % 2 === 1;
  }
  return false;
}

// lib/widget/explorer.py's `excerpt`: the text whole, or its first code points and "…".
function excerpt(text, limit = EXCERPT_LENGTH) {
  const points = Array.from(text);
  if (points.length <= limit) return text;
  let end = limit - 1;
  while (end > 1 && splitsCharacter(points, end)) end -= 1;
  return `${points.slice(0, end).join("")}…`;
}

// Levenshtein distance counted in code points, as Python counts a str.
function editDistance(a, b) {
  const x = Array.from(a);
  const y = Array.from(b);
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] !== y[j - 1] ? 1 : 0)));
    }
    previous = current;
  }
  return previous[y.length];
}

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function inflateBytes(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// Python's base64.b85encode alphabet, with "." standing for "<" (lib/widget/payload.py).
const BASE85 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;.=>?@^_`{|}~";
const BASE85_VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < BASE85.length; i++) BASE85_VALUES[BASE85.charCodeAt(i)] = i;

// Every 5 characters are 4 bytes, big-endian; a last group of n + 1 characters holds n bytes.
function base85Bytes(text) {
  const groups = Math.ceil(text.length / 5);
  const bytes = new Uint8Array(groups * 4);
  for (let g = 0; g < groups; g++) {
    let value = 0;
    for (let c = 0; c < 5; c++) {
      const at = g * 5 + c;
      const digit = at < text.length ? BASE85_VALUES[text.charCodeAt(at)] : 84; // pad with the last digit
      if (digit < 0) throw new Error(`not base85: ${JSON.stringify(text[at])} at ${at}`);
      value = value * 85 + digit;
    }
    bytes[4 * g] = value >>> 24;
    bytes[4 * g + 1] = (value >>> 16) & 255;
    bytes[4 * g + 2] = (value >>> 8) & 255;
    bytes[4 * g + 3] = value & 255;
  }
  const missing = groups * 5 - text.length;
  return bytes.subarray(0, bytes.length - missing);
}

// IEEE half precision bits -> its value (every float16 is exactly a float32, and a float64).
function halfToNumber(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

// "float16:<base85>" or "float32:<base85>" -> the values: byte planes (all first bytes, then all
// second bytes, ...), deflated, back to little-endian numbers, kept as float32 (what lib computes in).
async function decodeWeights(text) {
  const colon = text.indexOf(":");
  const dtype = text.slice(0, colon);
  const size = { float16: 2, float32: 4 }[dtype];
  if (!size) throw new Error(`unknown weight format ${JSON.stringify(dtype)}`);
  const planes = await inflateBytes(base85Bytes(text.slice(colon + 1).trim()));
  const count = planes.length / size;
  const values = new Float32Array(count);
  if (size === 2) {
    for (let i = 0; i < count; i++) values[i] = halfToNumber(planes[i] | (planes[count + i] << 8));
    return values;
  }
  const bytes = new Uint8Array(planes.length);
  for (let b = 0; b < 4; b++) {
    for (let i = 0; i < count; i++) bytes[4 * i + b] = planes[b * count + i];
  }
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) values[i] = view.getFloat32(4 * i, true);
  return values;
}

// ---------------------------------------------------------------------------------------------
// Building blocks. A sequence of n vectors of width d is one Float64Array of n * d numbers.

// y = x W^T + b, as torch.nn.Linear; W is (out, in), `rowOffset` picks rows of W (and b). Each
// output is bias + sum over k in order, as the plain triple loop gives, but computed for two rows
// of x and four rows of W at a time: each number loaded serves several sums (twice as fast).
function linear(x, n, inDim, weight, bias, outDim, rowOffset = 0) {
  const y = new Float64Array(n * outDim);
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const xa = i * inDim;
    const xb = xa + inDim;
    const ya = i * outDim;
    const yb = ya + outDim;
    let o = 0;
    for (; o + 3 < outDim; o += 4) {
      const w0 = (rowOffset + o) * inDim;
      const w1 = w0 + inDim;
      const w2 = w1 + inDim;
      const w3 = w2 + inDim;
      let a0 = bias[rowOffset + o];
      let a1 = bias[rowOffset + o + 1];
      let a2 = bias[rowOffset + o + 2];
      let a3 = bias[rowOffset + o + 3];
      let b0 = a0;
      let b1 = a1;
      let b2 = a2;
      let b3 = a3;
      for (let k = 0; k < inDim; k++) {
        const u = x[xa + k];
        const v = x[xb + k];
        const q0 = weight[w0 + k];
        const q1 = weight[w1 + k];
        const q2 = weight[w2 + k];
        const q3 = weight[w3 + k];
        a0 += u * q0;
        a1 += u * q1;
        a2 += u * q2;
        a3 += u * q3;
        b0 += v * q0;
        b1 += v * q1;
        b2 += v * q2;
        b3 += v * q3;
      }
      y[ya + o] = a0;
      y[ya + o + 1] = a1;
      y[ya + o + 2] = a2;
      y[ya + o + 3] = a3;
      y[yb + o] = b0;
      y[yb + o + 1] = b1;
      y[yb + o + 2] = b2;
      y[yb + o + 3] = b3;
    }
    for (; o < outDim; o++) {
      const wo = (rowOffset + o) * inDim;
      let a = bias[rowOffset + o];
      let b = a;
      for (let k = 0; k < inDim; k++) {
        a += x[xa + k] * weight[wo + k];
        b += x[xb + k] * weight[wo + k];
      }
      y[ya + o] = a;
      y[yb + o] = b;
    }
  }
  if (i < n) y.set(linearRow(x, i * inDim, inDim, weight, bias, outDim, rowOffset), i * outDim);
  return y;
}

// One row of `linear` (x from `start`), four outputs at a time.
function linearRow(x, start, inDim, weight, bias, outDim, rowOffset) {
  const y = new Float64Array(outDim);
  let o = 0;
  for (; o + 3 < outDim; o += 4) {
    const w0 = (rowOffset + o) * inDim;
    const w1 = w0 + inDim;
    const w2 = w1 + inDim;
    const w3 = w2 + inDim;
    let a0 = bias[rowOffset + o];
    let a1 = bias[rowOffset + o + 1];
    let a2 = bias[rowOffset + o + 2];
    let a3 = bias[rowOffset + o + 3];
    for (let k = 0; k < inDim; k++) {
      const u = x[start + k];
      a0 += u * weight[w0 + k];
      a1 += u * weight[w1 + k];
      a2 += u * weight[w2 + k];
      a3 += u * weight[w3 + k];
    }
    y[o] = a0;
    y[o + 1] = a1;
    y[o + 2] = a2;
    y[o + 3] = a3;
  }
  for (; o < outDim; o++) {
    const wo = (rowOffset + o) * inDim;
    let a = bias[rowOffset + o];
    for (let k = 0; k < inDim; k++) a += x[start + k] * weight[wo + k];
    y[o] = a;
  }
  return y;
}

// torch.nn.LayerNorm over the last dimension: biased variance, eps inside the square root.
function layerNorm(x, n, d, weight, bias, eps) {
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let mean = 0;
    for (let k = 0; k < d; k++) mean += x[i * d + k];
    mean /= d;
    let variance = 0;
    for (let k = 0; k < d; k++) variance += (x[i * d + k] - mean) ** 2;
    const scale = 1 / Math.sqrt(variance / d + eps);
    for (let k = 0; k < d; k++) y[i * d + k] = (x[i * d + k] - mean) * scale * weight[k] + bias[k];
  }
  return y;
}

function add(x, y) {
  const z = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) z[i] = x[i] + y[i];
  return z;
}

// PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...), rounded to float32 as lib's table is.
function sinusoidalRow(position, d) {
  const row = new Float64Array(d);
  for (let k = 0; k < d; k += 2) {
    const angle = position * Math.exp((-Math.log(10000) * k) / d);
    row[k] = Math.fround(Math.sin(angle));
    row[k + 1] = Math.fround(Math.cos(angle));
  }
  return row;
}

// Rotary positions (Su et al. 2021): rotate each pair (2i, 2i+1) of every head by p * theta_i.
function rotate(x, n, start, heads, headDim) {
  const d = heads * headDim;
  for (let i = 0; i < n; i++) {
    const position = start + i;
    for (let pair = 0; pair < headDim / 2; pair++) {
      const theta = 10000 ** (-(2 * pair) / headDim);
      const cos = Math.fround(Math.cos(position * theta));
      const sin = Math.fround(Math.sin(position * theta));
      for (let h = 0; h < heads; h++) {
        const at = i * d + h * headDim + 2 * pair;
        const even = x[at];
        const odd = x[at + 1];
        x[at] = even * cos - odd * sin;
        x[at + 1] = even * sin + odd * cos;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

class BrowserTransformer {
  // `values` maps each tensor's key to its numbers (see `loadTransformer`).
  constructor(spec, values) {
    this.spec = spec;
    this.config = spec.config;
    this.tensors = {};
    for (const [name, shape, key] of spec.tensors) {
      const size = shape.reduce((a, b) => a * b, 1);
      const tensor = values.get(key);
      if (!tensor || tensor.length !== size) throw new Error(`expected ${size} weights for ${name}, found ${tensor ? tensor.length : 0}`);
      this.tensors[name] = tensor;
    }
    for (const [name, same] of Object.entries(spec.aliases || {})) this.tensors[name] = this.tensors[same];
    this.sourceIndex = new Map(spec.source_tokens.map((token, id) => [token, id]));
    this.special = new Set(spec.special_tokens);
  }

  weight(name) {
    const tensor = this.tensors[name];
    if (!tensor) throw new Error(`the embedded model has no tensor ${name}`);
    return tensor;
  }

  // Text -> tokens, the way the explorer's Python side splits it (lib/tokenizers.py), or, for a
  // byte-level BPE model, the tokens of lib/bpe.py (lib/widget/bpe.js): one tokenizer path for
  // every widget of the book.
  tokenize(text) {
    if (this.spec.tokenize === "words") return splitWords(text);
    if (this.spec.tokenize === "bpe") return this.bpe().encode(text).map((id) => this.bpe().tokenText(id));
    return Array.from(text);
  }

  bpe() {
    if (!this.tokenizer) this.tokenizer = new BytePairTokenizer(this.spec.bpe);
    return this.tokenizer;
  }

  // The same checks, in the same words, as lib/widget/explorer.py's `check_input`.
  encodeInput(text) {
    if (this.spec.tokenize === "bpe") {
      const ids = this.bpe().encode(text);
      if (!ids.length) throw new InputError("the input is empty");
      if (ids.length > this.config.max_len) {
        throw new InputError(`the input has ${ids.length} tokens; the model's positional table holds at most ${this.config.max_len}`);
      }
      return { tokens: ids.map((id) => this.bpe().tokenText(id)), ids };
    }
    const tokens = this.tokenize(text);
    if (!tokens.length) throw new InputError("the input is empty");
    for (const token of tokens) {
      if (!this.sourceIndex.has(token) || this.special.has(token)) throw new InputError(this.unknownTokenMessage(token));
    }
    if (tokens.length > this.config.max_len) {
      const lengths = this.spec.lengths;
      const trained = lengths ? ` (it was trained on ${lengths[0]}–${lengths[1]})` : "";
      throw new InputError(
        `the input has ${tokens.length} tokens; the model's positional table holds at most ${this.config.max_len}${trained}`,
      );
    }
    return { tokens, ids: tokens.map((token) => this.sourceIndex.get(token)) };
  }

  // lib/widget/explorer.py's `unknown_token_message`: what the model knows, or similar known words.
  unknownTokenMessage(token) {
    const symbols = this.spec.source_tokens.filter((t) => !this.special.has(t));
    const quoted = excerpt(token);
    if (symbols.length <= LISTED_SYMBOLS) return `“${quoted}” is not in the model's vocabulary; it knows ${symbols.join(" ")}`;
    const close = [];
    const length = Array.from(token).length;
    symbols.forEach((symbol, index) => {
      if (Math.abs(length - Array.from(symbol).length) > SIMILAR_DISTANCE) return; // never within reach
      const distance = editDistance(token, symbol);
      if (distance <= SIMILAR_DISTANCE) close.push([distance, index]);
    });
    close.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    if (close.length) {
      const similar = close.slice(0, SIMILAR_SYMBOLS).map(([, index]) => symbols[index]);
      return `“${quoted}” is not in the model's vocabulary; similar ones it knows: ${similar.join(", ")}`;
    }
    const examples = symbols.filter((symbol) => /^[\p{L}\p{N}]/u.test(symbol)).slice(0, EXAMPLE_SYMBOLS).join(", ");
    return `“${quoted}” is not in the model's vocabulary; it knows ${symbols.length}, such as ${examples}`;
  }

  // lib/widget/explorer.py's `length_warning`: "" inside the lengths the model was trained on.
  lengthWarning(count) {
    const lengths = this.spec.lengths;
    if (!lengths || (lengths[0] <= count && count <= lengths[1])) return "";
    return `The model was trained on inputs of ${lengths[0]}–${lengths[1]} ${this.spec.unit}; this one has ${count}, so its answer may well be wrong.`;
  }

  // InputLayer: embedding x sqrt(d_model), plus sinusoidal or learned positions from `start` on.
  embed(prefix, ids, start) {
    const d = this.config.d_model;
    const table = this.weight(`${prefix}.token_embedding.lookup.weight`);
    const learned = this.config.positional === "learned" ? this.weight(`${prefix}.positions.lookup.weight`) : null;
    const x = new Float64Array(ids.length * d);
    const scale = Math.sqrt(d);
    ids.forEach((id, i) => {
      const position = start + i;
      const sinusoid = this.config.positional === "sinusoidal" ? sinusoidalRow(position, d) : null;
      for (let k = 0; k < d; k++) {
        let value = table[id * d + k] * scale;
        if (sinusoid) value += sinusoid[k];
        if (learned) value += learned[position * d + k];
        x[i * d + k] = value;
      }
    });
    return x;
  }

  // MultiHeadAttention. Queries are n new rows at positions start..; keys and values are those
  // kept in `cache` (a decoder's earlier steps) plus the new ones. A key is blocked when its token
  // is padding, or (causal) when it lies after the query. A query that sees no key gets weight
  // 0 everywhere and output 0, as lib's scaled_dot_product_attention gives.
  attend(prefix, x, n, { cache, start = 0, keyIds, causal = false, memory = null }) {
    const { d_model: d, num_heads: heads } = this.config;
    const headDim = d / heads;
    const inWeight = this.weight(`${prefix}.in_proj.weight`);
    const inBias = this.weight(`${prefix}.in_proj.bias`);
    let q;
    let keys;
    let values;
    if (memory) {
      q = linear(x, n, d, inWeight, inBias, d, 0);
      keys = memory.keys;
      values = memory.values;
    } else {
      const qkv = linear(x, n, d, inWeight, inBias, 3 * d);
      q = new Float64Array(n * d);
      const k = new Float64Array(n * d);
      const v = new Float64Array(n * d);
      for (let i = 0; i < n; i++) {
        q.set(qkv.subarray(i * 3 * d, i * 3 * d + d), i * d);
        k.set(qkv.subarray(i * 3 * d + d, i * 3 * d + 2 * d), i * d);
        v.set(qkv.subarray(i * 3 * d + 2 * d, i * 3 * d + 3 * d), i * d);
      }
      if (this.config.positional === "rotary") {
        rotate(q, n, start, heads, headDim);
        rotate(k, n, start, heads, headDim);
      }
      keys = concat(cache.keys, k);
      values = concat(cache.values, v);
      cache.keys = keys;
      cache.values = values;
    }
    const m = keys.length / d;
    const weights = new Float64Array(heads * n * m); // (heads, n, m)
    const out = new Float64Array(n * d);
    const scale = Math.sqrt(headDim);
    const scores = new Float64Array(m);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < n; i++) {
        let max = -Infinity;
        for (let j = 0; j < m; j++) {
          const blocked = keyIds[j] === this.config.pad_id || (causal && j > start + i);
          if (blocked) {
            scores[j] = -Infinity;
            continue;
          }
          let dot = 0;
          for (let k = 0; k < headDim; k++) dot += q[i * d + h * headDim + k] * keys[j * d + h * headDim + k];
          scores[j] = dot / scale;
          if (scores[j] > max) max = scores[j];
        }
        if (max === -Infinity) continue; // every key blocked: weights and output stay 0
        let total = 0;
        for (let j = 0; j < m; j++) {
          scores[j] = scores[j] === -Infinity ? 0 : Math.exp(scores[j] - max);
          total += scores[j];
        }
        const row = (h * n + i) * m;
        for (let j = 0; j < m; j++) {
          const w = scores[j] / total;
          weights[row + j] = w;
          if (w === 0) continue;
          for (let k = 0; k < headDim; k++) out[i * d + h * headDim + k] += w * values[j * d + h * headDim + k];
        }
      }
    }
    const outWeight = this.weight(`${prefix}.out_proj.weight`);
    const outBias = this.weight(`${prefix}.out_proj.bias`);
    return { out: linear(out, n, d, outWeight, outBias, d), weights, rows: n, cols: m };
  }

  // Cross-attention keys and values of the encoder's output, computed once per input.
  memoryKeysValues(prefix, memory, s) {
    const d = this.config.d_model;
    const inWeight = this.weight(`${prefix}.in_proj.weight`);
    const inBias = this.weight(`${prefix}.in_proj.bias`);
    return {
      keys: linear(memory, s, d, inWeight, inBias, d, d),
      values: linear(memory, s, d, inWeight, inBias, d, 2 * d),
    };
  }

  feedForward(prefix, x, n) {
    const { d_model: d, d_ff: ff } = this.config;
    const hidden = linear(x, n, d, this.weight(`${prefix}.linear1.weight`), this.weight(`${prefix}.linear1.bias`), ff);
    for (let i = 0; i < hidden.length; i++) hidden[i] = Math.max(0, hidden[i]);
    return linear(hidden, n, ff, this.weight(`${prefix}.linear2.weight`), this.weight(`${prefix}.linear2.bias`), d);
  }

  norm(name, x, n) {
    const d = this.config.d_model;
    return layerNorm(x, n, d, this.weight(`${name}.weight`), this.weight(`${name}.bias`), this.spec.layer_norm_eps);
  }

  // One sub-layer in its residual connection: Post-LN norm(x + f(x)) or Pre-LN x + f(norm(x)).
  residual(normName, x, n, sublayer) {
    if (this.config.norm_first) return add(x, sublayer(this.norm(normName, x, n)));
    return this.norm(normName, add(x, sublayer(x)), n);
  }

  // EncoderLayer (also the decoder-only block, with `causal`): self-attention, then feed-forward.
  encoderLayer(prefix, x, n, keyIds, causal) {
    const options = { cache: { keys: new Float64Array(0), values: new Float64Array(0) }, keyIds, causal };
    let weights;
    x = this.residual(`${prefix}.norm1`, x, n, (h) => {
      const attention = this.attend(`${prefix}.self_attn`, h, n, options);
      weights = attention.weights;
      return attention.out;
    });
    x = this.residual(`${prefix}.norm2`, x, n, (h) => this.feedForward(`${prefix}.feed_forward`, h, n));
    return { x, weights };
  }

  // A stack of encoder layers and its final LayerNorm: returns the output and each layer's weights.
  encoderStack(prefix, ids, inputPrefix, causal) {
    const n = ids.length;
    let x = this.embed(inputPrefix, ids, 0);
    const weights = [];
    for (let l = 0; l < this.layerCount(prefix); l++) {
      const result = this.encoderLayer(`${prefix}.layers.${l}`, x, n, ids, causal);
      x = result.x;
      weights.push(result.weights);
    }
    if (this.config.final_norm) x = this.norm(`${prefix}.norm`, x, n);
    return { x, weights };
  }

  layerCount(prefix) {
    return prefix === "decoder" || (prefix === "layers" && this.spec.architecture === "decoder-only")
      ? this.config.num_decoder_layers
      : this.config.num_encoder_layers;
  }

  // DecoderLayer on n new target rows at positions start..; `state` holds this layer's cache.
  // Causal self-attention, cross-attention to the encoder's output, feed-forward.
  decoderLayer(prefix, y, n, state, start, targetIds, memory) {
    const weights = {};
    const attention = (kind, options) => (h) => {
      const result = this.attend(`${prefix}.${kind}_attn`, h, n, options);
      weights[kind] = result.weights;
      return result.out;
    };
    y = this.residual(`${prefix}.norm1`, y, n, attention("self", { cache: state, start, keyIds: targetIds, causal: true }));
    y = this.residual(`${prefix}.norm2`, y, n, attention("cross", { memory: state.memory, keyIds: memory.ids }));
    y = this.residual(`${prefix}.norm3`, y, n, (h) => this.feedForward(`${prefix}.feed_forward`, h, n));
    return { y, self: weights.self, cross: weights.cross };
  }

  // A fresh decoder state: an empty key/value cache per layer, the memory's keys and values.
  startDecoding(memory) {
    return Array.from({ length: this.config.num_decoder_layers }, (_, l) => ({
      keys: new Float64Array(0),
      values: new Float64Array(0),
      memory: this.memoryKeysValues(`decoder.layers.${l}.cross_attn`, memory.x, memory.ids.length),
    }));
  }

  // Runs the decoder on target tokens `ids` (all the target so far), of which the first `start`
  // are already in `state`: returns the logits of the last row and each layer's weights.
  decode(state, ids, start, memory) {
    const n = ids.length - start;
    let y = this.embed("target_input", ids.slice(start), start);
    const selfWeights = [];
    const crossWeights = [];
    for (let l = 0; l < this.config.num_decoder_layers; l++) {
      const result = this.decoderLayer(`decoder.layers.${l}`, y, n, state[l], start, ids, memory);
      y = result.y;
      selfWeights.push(result.self);
      crossWeights.push(result.cross);
    }
    if (this.config.final_norm) y = this.norm("decoder.norm", y, n);
    const d = this.config.d_model;
    const last = y.subarray((n - 1) * d, n * d);
    const vocab = this.config.output_vocab_size;
    const logits = linear(last, 1, d, this.weight("generator.weight"), this.weight("generator.bias"), vocab);
    return { logits, selfWeights, crossWeights };
  }

  // lib.decoding.greedy_decode for one source: the most likely token, step by step, until <eos>
  // or max_length tokens. The decoder reads each new token once (a key/value cache), and each
  // step's attention rows are kept: together they are the weights of the decoder run on
  // <bos> + output, which the explorer shows (the last output token is read once more if no
  // <eos> came).
  greedyDecode(memory) {
    const { num_decoder_layers: layers, num_heads: heads, bos_id: bos, eos_id: eos } = this.config;
    const state = this.startDecoding(memory);
    const target = [bos];
    const steps = [];
    for (let step = 0; step < this.spec.max_length; step++) {
      const { logits, selfWeights, crossWeights } = this.decode(state, target, target.length - 1, memory);
      steps.push({ selfWeights, crossWeights });
      let best = 0;
      for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
      if (best === eos) break;
      target.push(best);
    }
    if (steps.length < target.length) {
      const { selfWeights, crossWeights } = this.decode(state, target, target.length - 1, memory);
      steps.push({ selfWeights, crossWeights });
    }
    const t = target.length;
    const s = memory.ids.length;
    const selfWeights = Array.from({ length: layers }, () => new Float64Array(heads * t * t));
    const crossWeights = Array.from({ length: layers }, () => new Float64Array(heads * t * s));
    steps.forEach((step, i) => {
      for (let l = 0; l < layers; l++) {
        for (let h = 0; h < heads; h++) {
          const row = step.selfWeights[l].subarray(h * (i + 1), (h + 1) * (i + 1)); // (heads, 1, i + 1)
          selfWeights[l].set(row, (h * t + i) * t);
          crossWeights[l].set(step.crossWeights[l].subarray(h * s, (h + 1) * s), (h * t + i) * s);
        }
      }
    });
    return { target, selfWeights, crossWeights };
  }

  // The explorer's view of one input: what lib/widget/explorer.py's `model_attention` returns.
  run(text) {
    const { tokens, ids } = this.encodeInput(text);
    const warning = this.lengthWarning(tokens.length);
    const joiner = this.spec.tokenize === "words" ? " " : "";
    if (this.spec.architecture !== "encoder-decoder") {
      const name = this.spec.architecture === "decoder-only" ? "decoder_self" : "encoder_self";
      const { weights } = this.encoderStack("layers", ids, "input", name === "decoder_self");
      return { title: tokens.join(joiner), warning, kinds: { [name]: this.kind(name, weights, tokens, tokens) } };
    }
    const encoded = this.encoderStack("encoder", ids, "source_input", false);
    const decoded = this.greedyDecode({ x: encoded.x, ids });
    const output = decoded.target.slice(1);
    const targetTokens = decoded.target.map((id) => this.targetToken(id));
    const shownOutput = output.filter((id) => id >= this.spec.special_tokens.length).map((id) => this.targetToken(id));
    return {
      title: `${tokens.join(joiner)} → ${shownOutput.join(joiner)}`,
      output,
      warning,
      kinds: {
        encoder_self: this.kind("encoder_self", encoded.weights, tokens, tokens),
        decoder_self: this.kind("decoder_self", decoded.selfWeights, targetTokens, targetTokens),
        cross: this.kind("cross", decoded.crossWeights, targetTokens, tokens),
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // A decoder-only model, one token at a time with a key/value cache (lib/model.py's
  // DecoderOnlyTransformer.start_decoding and decode_next): each new token is read once.

  // An empty cache per layer; `ids` are the tokens read so far.
  startCausal() {
    const layers = Array.from({ length: this.config.num_decoder_layers }, () => ({
      keys: new Float64Array(0),
      values: new Float64Array(0),
    }));
    return { layers, ids: [] };
  }

  // Reads `newIds` after the tokens already in `state`: returns the logits (vocab) after the last
  // of them and each layer's attention rows of the new tokens, (heads, new, all so far).
  causalStep(state, newIds) {
    if (this.spec.architecture !== "decoder-only") throw new Error("only a decoder-only model continues text");
    const start = state.ids.length;
    const n = newIds.length;
    if (start + n > this.config.max_len) {
      throw new InputError(`${start + n} tokens do not fit the model's context of ${this.config.max_len}`);
    }
    state.ids = state.ids.concat(newIds);
    let x = this.embed("input", newIds, start);
    const weights = [];
    for (let l = 0; l < this.config.num_decoder_layers; l++) {
      const prefix = `layers.layers.${l}`;
      const options = { cache: state.layers[l], start, keyIds: state.ids, causal: true };
      x = this.residual(`${prefix}.norm1`, x, n, (h) => {
        const attention = this.attend(`${prefix}.self_attn`, h, n, options);
        weights.push(attention.weights);
        return attention.out;
      });
      x = this.residual(`${prefix}.norm2`, x, n, (h) => this.feedForward(`${prefix}.feed_forward`, h, n));
    }
    const d = this.config.d_model;
    let last = x.subarray((n - 1) * d, n * d);
    if (this.config.final_norm) last = this.norm("layers.norm", last, 1);
    const vocab = this.config.output_vocab_size;
    const logits = linear(last, 1, d, this.weight("generator.weight"), this.weight("generator.bias"), vocab);
    return { logits, weights };
  }

  targetToken(id) {
    const tokens = this.spec.target_tokens;
    if (id < 0 || id >= tokens.length) throw new InputError(`the model emitted id ${id}, outside its vocabulary`);
    return tokens[id];
  }

  // One kind of attention in the explorer's form: values (layers, heads, rows, cols).
  kind(name, perLayer, rows, cols) {
    const size = perLayer[0].length;
    const values = new Float64Array(perLayer.length * size);
    perLayer.forEach((weights, l) => values.set(weights, l * size));
    return {
      label: this.spec.labels[name], rows, cols, layers: perLayer.length, heads: this.config.num_heads, values,
    };
  }
}

// lib.tokenizers.WordTokenizer.split: lowercase words (with inner "_" and "'") and single other
// characters; whole code points (an emoji is one token, not two halves of a surrogate pair), and
// Python's whitespace (str.isspace), which is not quite JavaScript's \s.
const PYTHON_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WORD_PATTERN = new RegExp(`[a-z0-9_]+(?:'[a-z]+)?|[^${PYTHON_SPACE}a-z0-9_]`, "gu");
function splitWords(text) {
  return text.toLowerCase().match(WORD_PATTERN) || [];
}

function concat(a, b) {
  const c = new Float64Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}

// The embedded model, ready to run: spec is what lib/widget/payload.py's `encode_model` wrote.
// Each tensor's text is in spec.weights (in Jupyter) or, on a static page, in a block of the page
// marked with its key (lib/widget/page.py), which two widgets showing the same weights share.
async function loadTransformer(spec) {
  const values = new Map();
  for (const [name, , key] of spec.tensors) {
    if (values.has(key)) continue;
    let text = spec.weights ? spec.weights[key] : undefined;
    if (text === undefined) {
      const block = document.querySelector(`script[data-transformer-book="${key}"]`);
      if (!block) throw new Error(`the weights of ${name} are not on this page`);
      text = block.textContent;
    }
    values.set(key, await decodeWeights(text));
  }
  return new BrowserTransformer(spec, values);
}
