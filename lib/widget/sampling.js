// Continuing a text in the page: the next token greedily or sampled (temperature, top-k, top-p)
// with a small seeded random number generator, so a seed gives the same text every time in the
// page (it is not PyTorch's generator, so it does not give PyTorch's samples).

// mulberry32: 32 bits of state, uniform numbers in [0, 1); the same sequence for the same seed.
function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The next token from `logits` (vocab): temperature 0 is greedy (the first largest logit, as
// torch.argmax); otherwise softmax(logits / temperature) over the `topK` most likely tokens (0: all),
// then only the smallest set of the most likely whose probabilities add up to `topP` (1: all).
function pickToken(logits, { temperature = 0, topK = 0, topP = 1 }, random) {
  if (!(temperature > 0)) {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    return best;
  }
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
  const kept = order.slice(0, topK > 0 ? Math.min(topK, order.length) : order.length);
  const top = logits[kept[0]] / temperature;
  const weights = kept.map((v) => Math.exp(logits[v] / temperature - top));
  const total = weights.reduce((a, b) => a + b, 0);
  let count = weights.length;
  if (topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < weights.length; i++) {
      cumulative += weights[i] / total;
      if (cumulative >= topP) {
        count = i + 1;
        break;
      }
    }
  }
  const keptTotal = weights.slice(0, count).reduce((a, b) => a + b, 0);
  let r = random() * keptTotal;
  for (let i = 0; i < count; i++) {
    r -= weights[i];
    if (r < 0) return kept[i];
  }
  return kept[count - 1];
}

// One continuation of a prompt by a decoder-only BrowserTransformer, token by token. The model's
// positional table holds `max_len` tokens (its context window): a longer prompt keeps its last
// max_len tokens, and when the window is full the cache restarts from the last half of it (the
// model then no longer sees the beginning; `slides` counts how often that happened).
class Generation {
  constructor(transformer, promptIds, settings) {
    this.transformer = transformer;
    this.settings = settings;
    this.random = seededRandom(settings.seed || 0);
    this.window = transformer.config.max_len;
    this.dropped = Math.max(0, promptIds.length - this.window); // prompt tokens the model cannot see
    this.prompt = promptIds.slice(this.dropped);
    this.generated = [];
    this.slides = 0;
    this.attention = []; // per layer, per read token: its rows (heads, 1, window so far)
    this.state = null;
    this.logits = null;
  }

  // Reads `ids` into the cache, keeping each layer's attention rows.
  read(ids) {
    const { logits, weights } = this.transformer.causalStep(this.state, ids);
    const heads = this.transformer.config.num_heads;
    weights.forEach((layerWeights, l) => {
      const m = this.state.ids.length;
      const n = ids.length;
      for (let i = 0; i < n; i++) {
        const row = new Float64Array(heads * m);
        for (let h = 0; h < heads; h++) row.set(layerWeights.subarray((h * n + i) * m, (h * n + i + 1) * m), h * m);
        (this.attention[l] ||= []).push(row);
      }
    });
    this.logits = logits;
  }

  // Reads the prompt: afterwards `logits` predict the first new token.
  start() {
    this.state = this.transformer.startCausal();
    this.read(this.prompt);
  }

  // The same in pieces of `size` tokens, one per call, through the cache: the page can draw and
  // answer clicks in between. Returns true while there is more prompt to read.
  startPiece(size) {
    if (!this.state) this.state = this.transformer.startCausal();
    const done = this.state.ids.length;
    this.read(this.prompt.slice(done, done + size));
    return this.state.ids.length < this.prompt.length;
  }

  // Picks the next token, reads it (sliding the window if it is full) and returns it.
  next() {
    const id = pickToken(this.logits, this.settings, this.random);
    this.generated.push(id);
    if (this.state.ids.length >= this.window) {
      const keep = this.state.ids.slice(this.state.ids.length - Math.floor(this.window / 2));
      this.slides += 1;
      this.attention = [];
      this.state = this.transformer.startCausal();
      this.read([...keep, id]);
    } else {
      this.read([id]);
    }
    return id;
  }

  // The tokens in the window now and their attention: kind values (layers, heads, t, t).
  windowAttention() {
    const ids = this.state.ids;
    const t = ids.length;
    const heads = this.transformer.config.num_heads;
    const perLayer = this.attention.map((rows) => {
      const values = new Float64Array(heads * t * t);
      rows.forEach((row, i) => {
        const m = row.length / heads;
        for (let h = 0; h < heads; h++) values.set(row.subarray(h * m, (h + 1) * m), (h * t + i) * t);
      });
      return values;
    });
    return { ids, perLayer };
  }
}

// Gives the browser a moment to draw, answer clicks and run other tasks (timers too, which
// scheduler.yield's prioritized continuation would starve), without setTimeout's 4 ms clamp.
function yieldToBrowser() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}
