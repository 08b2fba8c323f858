// The text generator: the reader types a prompt, and the book's GPT continues it token by token
// in the page (transformer.js with its key/value cache, bpe.js, sampling.js), while the attention
// explorer below shows the attention of the text so far, by layer and head. It generates in
// slices of a few milliseconds and yields to the browser between them, so the page never freezes
// and Stop answers at once. Every text is shown with textContent, never parsed as HTML.

const SLICE_MS = 12; // longest stretch of work between two yields to the browser
const ATTENTION_EVERY_MS = 1000; // how often the attention view follows the new tokens (a redraw takes a while)
const PROMPT_PIECE = 32; // prompt tokens read per task (about 20 ms of CPU for the book's GPT)
const WARM_UP_ROUNDS = 6; // short runs after loading, so the engine compiles the forward pass before Run

function numberField(label, value, { min, max, step }) {
  const input = element("input");
  input.type = "number";
  Object.assign(input, { value: String(value), min: String(min), max: String(max), step: String(step) });
  return { input, label: labelled(label, input) };
}

// Reads a number field, clamped to its range (a cleared field gives its default).
function fieldValue(input, fallback) {
  const value = Number(input.value);
  if (input.value.trim() === "" || !Number.isFinite(value)) return fallback;
  return Math.min(Number(input.max), Math.max(Number(input.min), value));
}

function visibleToken(text) {
  return text.replace(/\n/g, "↵").replace(/\t/g, "⇥");
}

// The model and tokenizer: on the static page in a block of the page; in Jupyter the kernel sends
// them when asked (a message, not the widget's state, so the notebook does not store them twice).
function widgetSpec(model) {
  const engine = model.get("engine");
  if (engine) return Promise.resolve(JSON.parse(engine));
  return new Promise((resolve) => {
    const answer = (message) => {
      if (!message || message.type !== "spec") return;
      model.off("msg:custom", answer);
      resolve(message.spec);
    };
    model.on("msg:custom", answer);
    model.send({ type: "spec" });
  });
}

function renderGenerator({ model, el }) {
  el.classList.add("text-generator");
  const defaults = model.get("settings") || {};
  let transformer = null;
  let spec = null;
  // Load the weights, then run a short text once, so that the JavaScript engine has compiled the
  // forward pass before the reader's first Run (a cold first pass takes several times longer).
  const ready = widgetSpec(model).then(async (loaded) => {
    spec = loaded;
    topK.input.max = String(spec.config.output_vocab_size);
    return loadTransformer(spec);
  }).then(async (loaded) => {
    for (let round = 0; round < WARM_UP_ROUNDS; round++) {
      await yieldToBrowser(); // short tasks: the page stays responsive while it loads
      const warmUp = new Generation(loaded, new Array(16).fill(spec.config.bos_id), { temperature: 0 });
      warmUp.start();
      for (let i = 0; i < 4; i++) warmUp.next();
    }
    transformer = loaded;
    return loaded;
  });
  let runNumber = 0; // each Run takes the next number; an older run stops at its next slice

  const prompt = element("textarea", "gen-prompt");
  prompt.rows = 3;
  prompt.value = model.get("prompt") || "";
  prompt.spellcheck = false;
  const temperature = numberField("Temperature", defaults.temperature ?? 0.8, { min: 0, max: 5, step: 0.1 });
  const topK = numberField("Top-k", defaults.top_k ?? 0, { min: 0, max: 100000, step: 1 }); // max: the vocabulary
  const topP = numberField("Top-p", defaults.top_p ?? 1, { min: 0, max: 1, step: 0.05 });
  const seed = numberField("Seed", defaults.seed ?? 0, { min: 0, max: 2 ** 31 - 1, step: 1 });
  const length = numberField("Tokens", defaults.length ?? 100, { min: 1, max: 1000, step: 1 });
  const runButton = element("button", "gen-run", "Run");
  runButton.type = "submit";
  const stopButton = element("button", "gen-stop", "Stop");
  stopButton.type = "button";
  stopButton.disabled = true;
  const form = element("form", "gen-form");
  form.noValidate = true; // out-of-range numbers are clamped by fieldValue, not refused
  const settings = element("div", "attn-x-controls");
  settings.append(temperature.label, topK.label, topP.label, seed.label, length.label, runButton, stopButton);
  form.append(labelled("Prompt", prompt), settings);

  const hint = element("p", "attn-x-hint", model.get("hint") || "");
  const note = element("p", "gen-note");
  note.setAttribute("aria-live", "polite");
  const error = element("p", "attn-x-error");
  error.setAttribute("role", "alert");
  const output = element("p", "gen-output");
  const shownPrompt = element("span", "gen-prompt-text");
  const shownContinuation = element("span", "gen-continuation");
  output.append(shownPrompt, shownContinuation);
  const explorer = element("div", "gen-explorer");
  el.replaceChildren(hint, form, note, error, output, explorer);
  const cleanupExplorer = render({ model: { get: () => null, set() {}, save_changes() {}, on() {}, off() {} }, el: explorer });

  function showAttention(generation) {
    const { ids, perLayer } = generation.windowAttention();
    const tokens = ids.map((id) => visibleToken(transformer.bpe().tokenText(id)));
    const kind = transformer.kind("decoder_self", perLayer, tokens, tokens);
    explorer.showAttention({ decoder_self: kind }, "");
  }

  async function run() {
    const mine = ++runNumber;
    const clicked = performance.now();
    const busy = () => mine === runNumber;
    error.textContent = "";
    el.dataset.running = "true";
    runButton.disabled = true;
    stopButton.disabled = false;
    const report = { firstTokenMs: null, tokens: 0, seconds: 0 };
    el.lastRun = report;
    try {
      await ready;
      if (!busy()) return;
      const text = prompt.value;
      const bos = spec.config.bos_id;
      const encoded = transformer.bpe().encode(text);
      // An empty prompt starts from <bos> if the model was trained with it, else from a new line.
      const start = spec.add_bos ? [bos] : transformer.bpe().encode("\n");
      const ids = spec.add_bos || !encoded.length ? [...start, ...encoded] : encoded;
      const chosen = {
        temperature: fieldValue(temperature.input, 0.8),
        topK: Math.round(fieldValue(topK.input, 0)),
        topP: fieldValue(topP.input, 1),
        seed: Math.round(fieldValue(seed.input, 0)),
      };
      const wanted = Math.round(fieldValue(length.input, 100));
      const generation = new Generation(transformer, ids, chosen);
      const notes = [];
      if (!encoded.length) {
        const from = spec.add_bos ? "<bos>, the start of a text" : "a new line";
        notes.push(`The prompt is empty: the model starts from ${from}.`);
      }
      if (generation.dropped) {
        notes.push(
          `The prompt has ${ids.length} tokens, more than the model's context window of ${generation.window}: ` +
            `it reads only the last ${generation.window}.`,
        );
      }
      shownPrompt.textContent = generation.dropped ? `…${transformer.bpe().decode(generation.prompt)}` : text;
      shownContinuation.textContent = "";
      note.textContent = notes.join(" ");
      while (generation.startPiece(PROMPT_PIECE)) {
        await yieldToBrowser();
        if (!busy()) return;
      }
      let lastAttention = performance.now();
      const started = performance.now();
      while (generation.generated.length < wanted && busy()) {
        const sliceEnd = generation.generated.length ? performance.now() + SLICE_MS : 0; // the first token at once
        do {
          const id = generation.next();
          if (id === spec.config.eos_id) break;
        } while (generation.generated.length < wanted && performance.now() < sliceEnd);
        shownContinuation.textContent = transformer.bpe().decode(generation.generated);
        if (report.firstTokenMs === null) report.firstTokenMs = performance.now() - clicked;
        report.tokens = generation.generated.length;
        if (generation.generated.at(-1) === spec.config.eos_id) {
          notes.push("The model ended the text (<eos>).");
          break;
        }
        await yieldToBrowser();
        if (busy() && performance.now() - lastAttention > ATTENTION_EVERY_MS) {
          showAttention(generation); // in a task of its own, not added to a slice of generation
          lastAttention = performance.now();
          await yieldToBrowser();
        }
      }
      if (mine !== runNumber) return;
      report.seconds = (performance.now() - started) / 1000;
      showAttention(generation);
      if (generation.slides) {
        notes.push(
          `The text outgrew the context window of ${generation.window} tokens ${generation.slides} time(s): ` +
            `each time the model kept reading only the last ${Math.floor(generation.window / 2)}.`,
        );
      }
      const rate = report.seconds > 0 ? ` (${Math.round(report.tokens / report.seconds)} tokens/s)` : "";
      notes.push(`${report.tokens} new tokens${rate}.`);
      note.textContent = notes.join(" ");
    } catch (problem) {
      if (mine !== runNumber) return;
      const message = problem instanceof InputError ? problem.message : `the model failed (${problem.message || problem})`;
      error.textContent = `Could not continue the text: ${message}`;
    } finally {
      if (mine === runNumber) {
        delete el.dataset.running;
        runButton.disabled = false;
        stopButton.disabled = true;
      }
    }
  }

  function stop() {
    runNumber += 1;
    delete el.dataset.running;
    runButton.disabled = false;
    stopButton.disabled = true;
    note.textContent = `${note.textContent} Stopped.`.trim();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  stopButton.addEventListener("click", stop);
  ready.catch((problem) => {
    error.textContent = `The model could not be loaded: ${problem.message || problem}`;
  });
  Object.assign(el, { run, stop, ready: () => ready }); // for the tests and the benchmark
  el.dataset.ready = "true";
  return () => {
    runNumber += 1;
    if (typeof cleanupExplorer === "function") cleanupExplorer();
  };
}
