// The text generator: the reader types a prompt, and the book's GPT continues it token by token
// in the page (transformer.js with its key/value cache, bpe.js, sampling.js), while the attention
// explorer below shows the attention of the text so far, by layer and head. It generates in
// slices of a few milliseconds and yields to the browser between them, so the page never freezes
// and Stop answers at once. Every text is shown with textContent, never parsed as HTML.

const SLICE_MS = 12; // longest stretch of work between two yields to the browser
const ATTENTION_EVERY_MS = 1000; // how often the attention view follows the new tokens (a redraw takes a while)
const PROMPT_PIECE = 32; // prompt tokens read per task (about 20 ms of CPU for the book's GPT)
const WARM_UP_ROUNDS = 6; // short runs after loading, so the engine compiles the forward pass before Run

// Ids for the elements that describe a field: unique on the page even where two copies of this
// module run (in Jupyter each notebook may load its own).
const ID_PREFIX = `gen-${Math.random().toString(36).slice(2, 10)}`;
let idCount = 0;

// A number field with its range. A value outside it, or not a number, is replaced in the field by
// the value the model will use, and a message says why (until the field is edited again), in a
// line under the settings: beside the field it would move Run away from a pointer on its way there.
function numberField(label, value, { min, max, step, integer = false, title = "" }) {
  const input = element("input");
  input.type = "number";
  Object.assign(input, { value: String(value), min: String(min), max: String(max), step: String(step) });
  input.title = title || `${min} to ${max}`;
  const message = element("span", "gen-field-note");
  message.id = `${ID_PREFIX}-${++idCount}`;
  input.setAttribute("aria-describedby", message.id);
  input.addEventListener("input", () => {
    message.textContent = "";
  });
  const field = { input, label: labelled(label, input), message, name: label, fallback: value, integer };
  input.addEventListener("change", () => fieldValue(field));
  return field;
}

// The value a number field stands for, written back into the field if it differs from what was
// typed: clamped to [min, max], rounded if whole numbers only, the starting value if empty or not a number.
function fieldValue(field) {
  const { input, message, fallback, integer } = field;
  const min = Number(input.min);
  const max = Number(input.max);
  const typed = input.value.trim();
  let used = Number(typed);
  let why = "";
  if (typed === "" || !Number.isFinite(used)) {
    used = fallback;
    why = `Empty or not a number: ${used}, the starting value.`;
  } else if (used < min) {
    used = min;
    why = `${typed} is below ${min}, the least.`;
  } else if (used > max) {
    used = max;
    why = `${typed} is above ${max}, the most.`;
  } else if (integer && !Number.isInteger(used)) {
    used = Math.round(used);
    why = `Whole numbers only: ${used}.`;
  }
  if (why) {
    input.value = String(used);
    message.textContent = `${field.name}: ${why}`;
  }
  return used;
}

// "1 new token", "2 new tokens".
function count(n, singular, plural = `${singular}s`) {
  return `${n} ${n === 1 ? singular : plural}`;
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
  const temperature = numberField("Temperature", defaults.temperature ?? 0.8, {
    min: 0, max: 5, step: 0.1, title: "0 (always the likeliest token) to 5",
  });
  const topK = numberField("Top-k", defaults.top_k ?? 0, {
    min: 0, max: 100000, step: 1, integer: true, title: "0 (off) to the size of the vocabulary",
  }); // max: the vocabulary, once the model is loaded
  const topP = numberField("Top-p", defaults.top_p ?? 1, { min: 0, max: 1, step: 0.05, title: "0 to 1 (off)" });
  const seed = numberField("Seed", defaults.seed ?? 0, { min: 0, max: 2 ** 31 - 1, step: 1, integer: true });
  const length = numberField("Tokens", defaults.length ?? 100, { min: 1, max: 1000, step: 1, integer: true });
  const runButton = element("button", "gen-run", "Run");
  runButton.type = "submit";
  const stopButton = element("button", "gen-stop", "Stop");
  stopButton.type = "button";
  stopButton.disabled = true;
  const form = element("form", "gen-form");
  form.noValidate = true; // out-of-range numbers are replaced by the values used (fieldValue), not refused
  const settings = element("div", "attn-x-controls");
  settings.append(temperature.label, topK.label, topP.label, seed.label, length.label, runButton, stopButton);
  const keys = element("span", "gen-keys", `${/Mac|iPhone|iPad/.test(navigator.platform) ? "⌘" : "Ctrl"}+Enter runs, Esc stops`);
  keys.id = `${ID_PREFIX}-${++idCount}`;
  prompt.setAttribute("aria-describedby", keys.id);
  prompt.setAttribute("aria-keyshortcuts", "Control+Enter Meta+Enter");
  const promptLabel = labelled("Prompt", prompt);
  promptLabel.firstChild.append(" ", keys);
  const fieldNotes = element("p", "gen-field-notes");
  fieldNotes.setAttribute("aria-live", "polite");
  for (const field of [temperature, topK, topP, seed, length]) fieldNotes.append(field.message);
  form.append(promptLabel, settings, fieldNotes);

  const hint = element("p", "attn-x-hint", model.get("hint") || "");
  const note = element("p", "gen-note");
  note.setAttribute("aria-live", "polite");
  const error = element("p", "attn-x-error");
  error.setAttribute("role", "alert");
  const output = element("p", "gen-output");
  const cutMark = element("span", "gen-cut", "…");
  cutMark.title = "The prompt is cut here: the model reads only what follows.";
  cutMark.hidden = true;
  const shownPrompt = element("span", "gen-prompt-text");
  const shownContinuation = element("span", "gen-continuation");
  output.append(cutMark, shownPrompt, shownContinuation);
  const explorer = element("div", "gen-explorer");
  el.replaceChildren(hint, form, note, error, output, explorer);
  const cleanupExplorer = render({ model: { get: () => null, set() {}, save_changes() {}, on() {}, off() {} }, el: explorer });

  // Run is disabled while the model writes and Stop after it: the one of them that has the focus
  // hands it to the other, so the keyboard never falls back to the page.
  function setRunning(running) {
    const [from, to] = running ? [runButton, stopButton] : [stopButton, runButton];
    const hadFocus = document.activeElement === from;
    to.disabled = false;
    if (hadFocus) to.focus();
    from.disabled = true;
    if (running) el.dataset.running = "true";
    else delete el.dataset.running;
  }

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
    setRunning(true);
    const report = { firstTokenMs: null, tokens: 0, seconds: 0, read: [] };
    el.lastRun = report;
    try {
      await ready;
      if (!busy()) return;
      const text = prompt.value;
      const bpe = transformer.bpe();
      const bos = spec.config.bos_id;
      const encoded = bpe.encode(text);
      // A chat model reads the question in its template, <|user|> question <|assistant|>, and answers
      // until <|end|>. Otherwise an empty prompt starts from <bos> if the model was trained with it,
      // else from a new line.
      const start = spec.add_bos ? [bos] : bpe.encode("\n");
      const chat = spec.chat ? { user: bpe.addedId("<|user|>"), assistant: bpe.addedId("<|assistant|>"), end: bpe.addedId("<|end|>") } : null;
      if (chat && encoded.length + 2 >= transformer.config.max_len) {
        throw new InputError(`the question has ${encoded.length} tokens; this model reads at most ${transformer.config.max_len - 3} with its template and answer`);
      }
      const ids = chat ? [chat.user, ...encoded, chat.assistant] : spec.add_bos || !encoded.length ? [...start, ...encoded] : encoded;
      // A prompt longer than the context window is cut to its last tokens, from the first one that
      // starts a character (a token may begin inside a character's UTF-8 bytes).
      const contextWindow = transformer.config.max_len;
      let first = Math.max(0, ids.length - contextWindow);
      while (first > 0 && first < ids.length - 1 && !bpe.startsCharacter(ids[first])) first += 1;
      const read = ids.slice(first);
      const chosen = {
        temperature: fieldValue(temperature),
        topK: fieldValue(topK),
        topP: fieldValue(topP),
        seed: fieldValue(seed),
      };
      const wanted = fieldValue(length);
      const generation = new Generation(transformer, read, chosen);
      report.read = read;
      const notes = [];
      if (!encoded.length && !chat) {
        const from = spec.add_bos ? "<bos>, the start of a text" : "a new line";
        notes.push(`The prompt is empty: the model starts from ${from}.`);
      }
      if (first > 0) {
        notes.push(
          `The prompt is cut: it has ${ids.length} tokens, more than the model's context window of ${contextWindow}, ` +
            `so it reads only the last ${read.length}` +
            (read.length < contextWindow ? ", from the first whole character." : "."),
        );
      }
      cutMark.hidden = first === 0;
      shownPrompt.textContent = first > 0 ? bpe.decode(read) : chat ? `${text}\n` : text; // an answer starts on a line of its own
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
          if (id === spec.config.eos_id || (chat && id === chat.end)) break;
        } while (generation.generated.length < wanted && performance.now() < sliceEnd);
        shownContinuation.textContent = transformer.bpe().decode(generation.generated);
        if (report.firstTokenMs === null) report.firstTokenMs = performance.now() - clicked;
        report.tokens = generation.generated.length;
        if (generation.generated.at(-1) === spec.config.eos_id) {
          notes.push("The model ended the text (<eos>).");
          break;
        }
        if (chat && generation.generated.at(-1) === chat.end) {
          notes.push("The model ended its answer (<|end|>).");
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
        const times = generation.slides === 1 ? "once" : `${generation.slides} times`;
        notes.push(
          `The text outgrew the context window of ${generation.window} tokens ${times}: ` +
            `each time the model kept reading only the last ${Math.floor(generation.window / 2)}.`,
        );
      }
      const rate = report.seconds > 0 ? ` (${Math.round(report.tokens / report.seconds)} tokens/s)` : "";
      notes.push(`${count(report.tokens, "new token")}${rate}.`);
      note.textContent = notes.join(" ");
    } catch (problem) {
      if (mine !== runNumber) return;
      const message = problem instanceof InputError ? problem.message : `the model failed (${problem.message || problem})`;
      error.textContent = `Could not continue the text: ${message}`;
    } finally {
      if (mine === runNumber) setRunning(false);
    }
  }

  function stop() {
    if (!el.dataset.running) return;
    runNumber += 1;
    setRunning(false);
    note.textContent = `${note.textContent} Stopped.`.trim();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!el.dataset.running) run();
  });
  // Ctrl+Enter (⌘+Enter on a Mac) in the prompt runs it, as Run does; Enter alone adds a line.
  prompt.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.isComposing) return;
    event.preventDefault();
    if (!el.dataset.running) run();
  });
  // Esc anywhere in the generator stops a run.
  el.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && el.dataset.running) {
      event.preventDefault();
      stop();
    }
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
