// The attention explorer: the book's own code, no libraries, no network.
// In Jupyter it runs as an anywidget module; on the static site, Python inlines this same
// file (after transformer.js, which runs the model) into the notebook's HTML output with a
// small stand-in for the widget model.
// Every token string is shown with textContent, never parsed as HTML.

const ROW_HEIGHT = 20; // pixels per token in the lines view
const LINE_THRESHOLD = 0.02; // weights below this draw no line
const HEATMAP_SIZE = 320; // pixels, the longer side of a heatmap
const ALPHA_LEVELS = 16;
const LABEL_MIN_CELL = 12; // pixels: smaller heatmap cells get no token labels

// 8-bit codes round(255 w) back to weights (see lib/widget/payload.py).
async function decodePayload(payload) {
  if (!payload || payload.broken || typeof payload.kinds !== "object") {
    throw new Error(payload && payload.broken ? payload.broken : "no attention weights in it");
  }
  const kinds = {};
  for (const [name, entry] of Object.entries(payload.kinds)) {
    const codes = await inflateBytes(base64Bytes(entry.data));
    const size = entry.layers * entry.heads * entry.rows.length * entry.cols.length;
    if (codes.length !== size) throw new Error(`${name} holds ${codes.length} weights, expected ${size}`);
    const values = new Float32Array(codes.length);
    for (let i = 0; i < codes.length; i++) values[i] = codes[i] / 255;
    kinds[name] = { ...entry, values };
  }
  return kinds;
}

// The (rows x cols) weights of one layer and head, or their mean over heads.
function weightMatrix(kind, layer, head) {
  const size = kind.rows.length * kind.cols.length;
  if (head === "mean") {
    const mean = new Float32Array(size);
    for (let h = 0; h < kind.heads; h++) {
      const start = (layer * kind.heads + h) * size;
      for (let i = 0; i < size; i++) mean[i] += kind.values[start + i] / kind.heads;
    }
    return mean;
  }
  const start = (layer * kind.heads + head) * size;
  return kind.values.subarray(start, start + size);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function labelled(text, control) {
  control.setAttribute("aria-label", text);
  const label = element("label", "attn-x-control");
  label.append(element("span", "", text), control);
  return label;
}

function fillSelect(select, options, value) {
  select.replaceChildren(...options.map(([v, text]) => {
    const option = element("option", "", text);
    option.value = String(v);
    return option;
  }));
  select.value = String(value);
}

// Weight 0 is white, weight 1 deep blue.
function color(weight) {
  return [Math.round(255 - 225 * weight), Math.round(255 - 160 * weight), 255];
}

function drawHeatmap(canvas, matrix, rows, cols, highlightRow) {
  const cell = Math.max(1, Math.floor(HEATMAP_SIZE / Math.max(rows, cols)));
  canvas.width = cols * cell;
  canvas.height = rows * cell;
  const context = canvas.getContext("2d");
  const image = context.createImageData(canvas.width, canvas.height);
  for (let y = 0; y < canvas.height; y++) {
    const i = Math.floor(y / cell);
    for (let x = 0; x < canvas.width; x++) {
      const [r, g, b] = color(matrix[i * cols + Math.floor(x / cell)]);
      const p = 4 * (y * canvas.width + x);
      image.data[p] = r;
      image.data[p + 1] = g;
      image.data[p + 2] = b;
      image.data[p + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  if (highlightRow !== null) {
    context.strokeStyle = "#d9480f";
    context.lineWidth = 2;
    context.strokeRect(1, highlightRow * cell + 1, canvas.width - 2, cell - 2);
  }
  return cell;
}

function drawLines(canvas, matrix, rows, cols, focusRow) {
  canvas.height = Math.max(rows, cols) * ROW_HEIGHT;
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const buckets = Array.from({ length: ALPHA_LEVELS }, () => []);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const weight = matrix[i * cols + j];
      if (weight >= LINE_THRESHOLD) buckets[Math.min(ALPHA_LEVELS - 1, Math.floor(weight * ALPHA_LEVELS))].push(i, j);
    }
  }
  context.lineWidth = 2;
  buckets.forEach((pairs, level) => {
    if (!pairs.length) return;
    const alpha = (level + 1) / ALPHA_LEVELS;
    for (const focused of [false, true]) {
      context.beginPath();
      for (let p = 0; p < pairs.length; p += 2) {
        if ((focusRow === pairs[p]) !== focused) continue;
        context.moveTo(0, (pairs[p] + 0.5) * ROW_HEIGHT);
        context.lineTo(canvas.width, (pairs[p + 1] + 0.5) * ROW_HEIGHT);
      }
      context.strokeStyle = focused ? "#d9480f" : "#1c5fd4";
      context.globalAlpha = focusRow === null || focused ? alpha : alpha * 0.15;
      context.stroke();
    }
  });
  context.globalAlpha = 1;
}

// Token labels along a heatmap's rows (left) and columns (top), when its cells are big enough.
function drawLabels(rowLabels, colLabels, rows, cols, cell) {
  const fits = cell >= LABEL_MIN_CELL;
  rowLabels.hidden = !fits;
  colLabels.hidden = !fits;
  if (!fits) return;
  const label = (token, className, size) => {
    const span = element("span", className, token);
    span.title = token;
    span.style[className === "attn-x-row-label" ? "height" : "width"] = `${size}px`;
    return span;
  };
  rowLabels.replaceChildren(...rows.map((token) => label(token, "attn-x-row-label", cell)));
  colLabels.replaceChildren(...cols.map((token) => label(token, "attn-x-col-label", cell)));
  colLabels.classList.toggle("attn-x-vertical", cols.some((token) => Array.from(token).length * 8 > cell));
  rowLabels.style.lineHeight = `${cell}px`;
}

function render({ model, el }) {
  el.classList.add("attention-explorer");
  const state = { kind: null, layer: 0, head: 0, query: null };
  let kinds = {};
  let generation = 0; // each new payload or run takes the next number; a late older one is dropped
  const engineText = model.get("engine"); // the static page's embedded model, if any
  let enginePromise = null;
  const browserModel = () => {
    if (!enginePromise) enginePromise = loadTransformer(JSON.parse(engineText));
    return enginePromise;
  };

  const kindSelect = element("select");
  const layerSelect = element("select");
  const headSelect = element("select");
  const controls = element("div", "attn-x-controls");
  controls.append(labelled("Attention", kindSelect), labelled("Layer", layerSelect), labelled("Head", headSelect));

  let input = null;
  if (model.get("live") || engineText) {
    const form = element("form", "attn-x-input");
    input = element("input");
    input.type = "text";
    input.spellcheck = false;
    input.value = model.get("text") || "";
    const button = element("button", "", "Run");
    button.type = "submit";
    form.append(labelled("Input", input), button);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (engineText) {
        runInBrowser(input.value);
      } else {
        model.set("text", input.value);
        model.save_changes();
      }
    });
    controls.append(form);
  }

  const hint = element("p", "attn-x-hint");
  const result = element("p", "attn-x-result");
  const status = element("p", "attn-x-status");
  status.setAttribute("aria-live", "polite");
  const error = element("p", "attn-x-error");
  error.setAttribute("role", "alert");
  const warning = element("p", "attn-x-warning");
  warning.setAttribute("aria-live", "polite");
  const heatmap = element("canvas", "attn-x-heatmap");
  heatmap.setAttribute("role", "img");
  const rowLabels = element("div", "attn-x-row-labels");
  const colLabels = element("div", "attn-x-col-labels");
  rowLabels.setAttribute("aria-hidden", "true");
  colLabels.setAttribute("aria-hidden", "true");
  const heatmapGrid = element("div", "attn-x-heatmap-grid");
  heatmapGrid.append(element("span"), colLabels, rowLabels, heatmap);
  const heatmapPanel = element("figure", "attn-x-panel");
  heatmapPanel.append(heatmapGrid);
  const queryColumn = element("div", "attn-x-tokens attn-x-queries");
  const keyColumn = element("div", "attn-x-tokens attn-x-keys");
  const lines = element("canvas", "attn-x-lines");
  lines.width = 160;
  lines.setAttribute("aria-hidden", "true");
  const linesPanel = element("div", "attn-x-panel attn-x-lines-panel");
  linesPanel.append(queryColumn, lines, keyColumn);
  const grid = element("div", "attn-x-grid");
  const views = element("div", "attn-x-views");
  views.append(heatmapPanel, linesPanel, grid);
  el.replaceChildren(controls, hint, error, warning, result, status, views);

  const current = () => kinds[state.kind];

  function describe(kind) {
    const head = state.head === "mean" ? "mean of heads" : state.head === "grid" ? "all heads" : `head ${state.head + 1}`;
    return `${kind.label}, layer ${state.layer + 1}, ${head}`;
  }

  function showQuery(i) {
    state.query = i;
    drawViews();
  }

  function tokenButtons(column, tokens, role) {
    column.replaceChildren(...tokens.map((token, index) => {
      const button = element("button", "attn-x-token");
      button.type = "button";
      button.append(element("span", "attn-x-text", token));
      if (role === "query") {
        button.addEventListener("mouseenter", () => showQuery(index));
        button.addEventListener("focus", () => showQuery(index));
        button.addEventListener("mouseleave", () => showQuery(null));
        button.addEventListener("blur", () => showQuery(null));
      } else {
        button.append(element("span", "attn-x-value"));
      }
      button.setAttribute("aria-label", `${role} ${index + 1}: ${token}`);
      return button;
    }));
  }

  function drawViews() {
    const kind = current();
    if (!kind) return;
    const rows = kind.rows.length;
    const cols = kind.cols.length;
    el.dataset.kind = state.kind;
    el.dataset.layer = String(state.layer);
    el.dataset.head = String(state.head);
    const gridMode = state.head === "grid";
    heatmapPanel.hidden = gridMode;
    linesPanel.hidden = gridMode;
    grid.hidden = !gridMode;
    if (gridMode) {
      drawGrid(kind);
      status.textContent = `${describe(kind)}. Hover a cell for its weight.`;
      return;
    }
    const matrix = weightMatrix(kind, state.layer, state.head);
    const cell = drawHeatmap(heatmap, matrix, rows, cols, state.query);
    drawLabels(rowLabels, colLabels, kind.rows, kind.cols, cell);
    heatmap.setAttribute("aria-label", `Heatmap of ${describe(kind)}: rows are queries, columns are keys`);
    drawLines(lines, matrix, rows, cols, state.query);
    keyColumn.querySelectorAll(".attn-x-token").forEach((button, j) => {
      const value = button.querySelector(".attn-x-value");
      const weight = state.query === null ? null : matrix[state.query * cols + j];
      value.textContent = weight === null ? "" : weight.toFixed(2);
      const [r, g, b] = color(weight || 0);
      button.style.background = weight === null ? "" : `rgb(${r}, ${g}, ${b})`;
      button.style.color = weight !== null && weight > 0.6 ? "#fff" : "";
    });
    queryColumn.querySelectorAll(".attn-x-token").forEach((button, i) => {
      button.classList.toggle("attn-x-active", i === state.query);
    });
    status.textContent = state.query === null
      ? `${describe(kind)}. Hover or focus a query token (left) to see where it looks.`
      : `${describe(kind)}: query ${state.query + 1} "${kind.rows[state.query]}" attends to the keys on the right.`;
  }

  function drawGrid(kind) {
    grid.replaceChildren();
    for (let h = 0; h < kind.heads; h++) {
      const figure = element("figure", "attn-x-grid-item");
      const canvas = element("canvas");
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `Heatmap of head ${h + 1}`);
      const matrix = weightMatrix(kind, state.layer, h);
      const cell = drawHeatmap(canvas, matrix, kind.rows.length, kind.cols.length, null);
      canvas.style.width = `${Math.round(canvas.width / 2)}px`;
      canvas.addEventListener("mousemove", (event) => {
        const box = canvas.getBoundingClientRect();
        const scale = canvas.width / box.width;
        const i = Math.floor(((event.clientY - box.top) * scale) / cell);
        const j = Math.floor(((event.clientX - box.left) * scale) / cell);
        if (i < 0 || j < 0 || i >= kind.rows.length || j >= kind.cols.length) return;
        const weight = matrix[i * kind.cols.length + j].toFixed(2);
        status.textContent = `head ${h + 1}: query "${kind.rows[i]}" → key "${kind.cols[j]}": ${weight}`;
      });
      figure.append(canvas, element("figcaption", "", `head ${h + 1}`));
      grid.append(figure);
    }
  }

  heatmap.addEventListener("mousemove", (event) => {
    const kind = current();
    if (!kind) return;
    const box = heatmap.getBoundingClientRect();
    const cell = heatmap.width / kind.cols.length;
    const i = Math.floor((event.clientY - box.top) / cell);
    const j = Math.floor((event.clientX - box.left) / cell);
    if (i < 0 || j < 0 || i >= kind.rows.length || j >= kind.cols.length) return;
    if (i !== state.query) showQuery(i);
    const weight = weightMatrix(kind, state.layer, state.head)[i * kind.cols.length + j];
    status.textContent = `${describe(kind)}: query "${kind.rows[i]}" → key "${kind.cols[j]}": ${weight.toFixed(2)}`;
  });
  heatmap.addEventListener("mouseleave", () => showQuery(null));

  function selectKind(name) {
    state.kind = name;
    const kind = current();
    state.layer = Math.min(state.layer, kind.layers - 1);
    if (typeof state.head === "number") state.head = Math.min(state.head, kind.heads - 1);
    state.query = null;
    // Option values are the numbers people see (1-based); state holds 0-based indices.
    fillSelect(layerSelect, Array.from({ length: kind.layers }, (_, l) => [l + 1, `${l + 1}`]), state.layer + 1);
    const heads = Array.from({ length: kind.heads }, (_, h) => [h + 1, `${h + 1}`]);
    const headValue = typeof state.head === "number" ? state.head + 1 : state.head;
    fillSelect(headSelect, [...heads, ["mean", "mean of heads"], ["grid", "all heads (grid)"]], headValue);
    tokenButtons(queryColumn, kind.rows, "query");
    tokenButtons(keyColumn, kind.cols, "key");
    drawViews();
  }

  kindSelect.addEventListener("change", () => selectKind(kindSelect.value));
  layerSelect.addEventListener("change", () => {
    state.layer = Number(layerSelect.value) - 1;
    drawViews();
  });
  headSelect.addEventListener("change", () => {
    const value = headSelect.value;
    state.head = value === "mean" || value === "grid" ? value : Number(value) - 1;
    drawViews();
  });

  // Shows new kinds of attention, keeping the chosen kind, layer and head where they still exist.
  function show(newKinds, title) {
    const names = Object.keys(newKinds);
    if (!names.length) throw new Error("no attention weights in it");
    kinds = newKinds;
    result.textContent = title || "";
    fillSelect(kindSelect, names.map((name) => [name, kinds[name].label]), names.includes(state.kind) ? state.kind : names[0]);
    selectKind(kindSelect.value);
    el.dataset.ready = "true";
  }

  async function load() {
    const mine = ++generation;
    const payload = model.get("payload");
    try {
      const decoded = await decodePayload(payload);
      if (mine !== generation) return; // a newer payload or run came in meanwhile
      if (payload.start && state.kind === null) {
        Object.assign(state, { kind: payload.start.kind, layer: payload.start.layer, head: payload.start.head });
      }
      hint.textContent = (payload.hint || "") + (engineText ? " The model runs in your browser." : "");
      error.textContent = model.get("error") || "";
      warning.textContent = payload.warning || "";
      show(decoded, payload.title);
    } catch (problem) {
      if (mine !== generation) return;
      error.textContent = `The explorer could not read its data: ${problem.message || problem}`;
      el.dataset.failed = "true";
    }
  }

  // The static page's text box: run the embedded model here; on bad input keep the last good view.
  async function runInBrowser(text) {
    const mine = ++generation;
    el.dataset.running = "true";
    try {
      const transformer = await browserModel();
      if (mine !== generation) return;
      const output = transformer.run(text);
      show(output.kinds, output.title);
      error.textContent = "";
      warning.textContent = output.warning;
    } catch (problem) {
      if (mine !== generation) return;
      const message = problem instanceof InputError ? problem.message : `the model failed (${problem.message || problem})`;
      error.textContent = `Could not run the model on “${excerpt(text)}”: ${message}`; // run_error's words
      warning.textContent = ""; // the last good run's warning is not about this input
    } finally {
      if (mine === generation) delete el.dataset.running;
    }
  }

  const onPayload = () => load();
  // In Jupyter the kernel keeps the last good payload when an input fails: its warning goes with it.
  const onError = () => {
    error.textContent = model.get("error") || "";
    if (error.textContent) warning.textContent = "";
  };
  model.on("change:payload", onPayload);
  model.on("change:error", onError);
  if (engineText) Object.assign(el, { browserModel, runInBrowser }); // for the tests and the benchmark
  // Another widget (the text generator) can feed the explorer attention it computed itself.
  el.showAttention = (newKinds, title) => {
    generation += 1;
    show(newKinds, title);
  };
  if (model.get("payload")) load();
  return () => {
    model.off("change:payload", onPayload);
    model.off("change:error", onError);
  };
}

