// hscanom explorer: the scatter page.
//
// Data come from the JSON API as columns (object ids as strings: JavaScript numbers lose
// ids > 2^53). The scatter is plotly.js `scattergl` (WebGL); box/lasso selection fills
// the image grid, hovering a thumbnail (or clicking a point) shows real, reconstruction and
// residual. The filter runs on the server (read-only SQL) and greys out what does not match.
"use strict";

(function () {
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const $ = (id) => document.getElementById(id);
  const plot = $("plot");
  const MAX_THUMBS = 120;
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173",
    "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363"];

  const state = {
    run: cfg.run, space: null, color: "s_disc_sigma",
    data: null,       // columnar points of the run
    match: null,      // Set of object ids passing the filter, or null (no filter)
    traceIdx: [],     // per trace: indices into data
    plotted: false,
    previewSeq: 0,
  };

  async function api(path, options) {
    const r = await fetch(path, options);
    let body;
    try { body = await r.json(); } catch (e) { body = {error: `${r.status} ${r.statusText}`}; }
    if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
    return body;
  }

  function setStatus(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.className = isError ? "error" : "muted";
  }

  function imageUrl(id, kind) { return `/api/images/${id}/${kind}.png?run=${state.run}`; }
  function objectUrl(id) { return `/object/${id}?run=${state.run}`; }
  function spaceName(s) {
    if (s === "sky") return "sky (RA, Dec) with footprint";
    return s === "scores" ? "s_gen vs s_disc [\u03c3]" : `UMAP (${s.replace("_", " ")})`;
  }

  // The run's footprint MOC (HEALPix cells, /api/runs/{run}/footprint) as one closed-polygon
  // trace, drawn last so that the point traces keep their indices for the selection.
  const footprints = new Map();
  async function footprintTrace(run) {
    if (!footprints.has(run)) footprints.set(run, await api(`/api/runs/${run}/footprint`));
    const f = footprints.get(run);
    const x = [], y = [];
    for (const c of f.cells) { x.push(...c.ra, c.ra[0], null); y.push(...c.dec, c.dec[0], null); }
    return {type: "scatter", mode: "lines", x, y, fill: "toself", fillcolor: "rgba(70,130,180,0.12)",
      line: {color: "rgba(70,130,180,0.6)", width: 0.5}, hoverinfo: "skip",
      name: `footprint MOC (order ${f.order}, ${f.cells.length} cells)`, showlegend: true};
  }
  function fmt(v, digits) { return v == null ? "\u2014" : Number(v).toFixed(digits); }

  // -- controls ----------------------------------------------------------------------------
  function fillSelect(select, options, value) {
    select.innerHTML = "";
    for (const [v, text] of options) {
      const o = document.createElement("option");
      o.value = v; o.textContent = text;
      select.appendChild(o);
    }
    if (value != null) select.value = String(value);
  }

  async function loadRuns() {
    const {runs} = await api("/api/runs");
    if (!runs.length) { setStatus("no score runs in this database yet (run `hscanom score`)", true); return false; }
    if (state.run == null || !runs.some((r) => r.id === state.run)) state.run = runs[0].id;
    fillSelect($("run"), runs.map((r) => [r.id,
      `${r.id} \u00b7 ${r.method} \u00b7 ${r.sample} \u00b7 ${r.n_scored.toLocaleString()} objects${r.status === "complete" ? "" : " (" + r.status + ")"}`]), state.run);
    return true;
  }

  fillSelect($("color"), Object.entries(cfg.colors), state.color);

  // -- scatter -----------------------------------------------------------------------------
  function categoryName(column, value) {
    if (column === "in_bright_star_mask") return value ? "in mask" : "outside mask";
    if (column === "blended") return value ? "blended" : "not blended";
    if (column === "hdbscan_label" && value === -1) return "noise";
    return `cluster ${value}`;
  }

  function buildTraces() {
    const d = state.data;
    const n = d.n;
    const size = n > 30000 ? 3 : n > 3000 ? 4 : 7;
    const out = [], none = [], main = [];
    for (let i = 0; i < n; i++) {
      if (state.match && !state.match.has(d.object_id[i])) out.push(i);
      else if (d.color[i] === null) none.push(i);
      else main.push(i);
    }
    const pick = (arr, idx) => idx.map((i) => arr[i]);
    const base = (idx, extra) => Object.assign({
      type: "scattergl", mode: "markers", x: pick(d.x, idx), y: pick(d.y, idx),
      customdata: pick(d.object_id, idx),
      unselected: {marker: {opacity: 0.25}},
    }, extra);
    const traces = [
      base(out, {name: "filtered out", marker: {color: "#cfd3d8", size: Math.max(2, size - 1)}, hoverinfo: "skip", showlegend: false}),
      base(none, {name: `no ${d.color_label}`, marker: {color: "#8a8f98", size}, showlegend: none.length > 0,
        hovertemplate: `%{customdata}<br>no ${d.color_label}<extra></extra>`}),
    ];
    const idx = [out, none];
    if (d.categorical) {
      const groups = new Map();
      for (const i of main) {
        const v = d.color[i];
        if (!groups.has(v)) groups.set(v, []);
        groups.get(v).push(i);
      }
      const keys = [...groups.keys()].sort((a, b) => a - b);
      keys.forEach((v, k) => {
        const g = groups.get(v);
        const name = categoryName(d.color_column, v);
        const colour = (d.color_column === "hdbscan_label" && v === -1) ? "#b0b4ba" : PALETTE[k % PALETTE.length];
        traces.push(base(g, {name, marker: {color: colour, size}, hovertemplate: `%{customdata}<br>${name}<extra></extra>`}));
        idx.push(g);
      });
    } else {
      traces.push(base(main, {
        name: d.color_label, showlegend: false,
        marker: {color: pick(d.color, main), colorscale: "Viridis", size, showscale: true,
          colorbar: {title: {text: d.color_label, side: "right"}, thickness: 12, len: 0.9}},
        hovertemplate: `%{customdata}<br>${d.color_label} = %{marker.color:.3f}<extra></extra>`,
      }));
      idx.push(main);
    }
    state.traceIdx = idx;
    return traces;
  }

  async function draw() {
    const d = state.data;
    const layout = {
      dragmode: "select", hovermode: "closest", uirevision: `${state.run}/${state.space}`,
      margin: {l: 56, r: 8, t: 8, b: 48},
      xaxis: {title: {text: d.x_label}, zeroline: false}, yaxis: {title: {text: d.y_label}, zeroline: false},
      legend: {orientation: "h", y: -0.14, x: 0, font: {size: 11}},
      plot_bgcolor: "#fbfbfc", paper_bgcolor: "#ffffff", font: {family: "system-ui, sans-serif", size: 12},
    };
    const config = {displaylogo: false, responsive: true, scrollZoom: true, modeBarButtonsToRemove: ["toImage"]};
    const traces = buildTraces();
    if (d.space === "sky") {
      layout.xaxis.autorange = "reversed";  // RA grows to the east, leftwards on the sky
      layout.yaxis.scaleanchor = "x";
      try { traces.push(await footprintTrace(state.run)); } catch (err) { setStatus(`footprint: ${err.message}`, true); }
    }
    plot.dataset.rendered = "";
    await Plotly.react(plot, traces, layout, config);
    if (!state.plotted) {
      plot.on("plotly_selected", onSelected);
      plot.on("plotly_deselect", () => showSelection([]));
      plot.on("plotly_click", (ev) => { if (ev && ev.points && ev.points.length) preview(ev.points[0].customdata); });
      state.plotted = true;
    }
    showSelection([]);
    const shown = state.match ? d.object_id.filter((id) => state.match.has(id)).length : d.n;
    setStatus(`${d.n.toLocaleString()} objects in ${spaceName(d.space)}` + (state.match ? `, ${shown.toLocaleString()} pass the filter` : ""));
    plot.dataset.rendered = String(d.n);
    plot.dataset.space = d.space;
  }

  async function loadPoints() {
    setStatus("loading\u2026");
    const q = new URLSearchParams({color: state.color});
    if (state.space) q.set("space", state.space);
    let d;
    try {
      d = await api(`/api/runs/${state.run}/points?${q}`);
    } catch (err) {
      if (state.space) { state.space = null; return loadPoints(); } // space absent in this run
      setStatus(err.message, true);
      return;
    }
    state.data = d;
    state.space = d.space;
    fillSelect($("space"), d.spaces.map((s) => [s, spaceName(s)]), d.space);
    await draw();
  }

  // -- selection grid and preview ----------------------------------------------------------
  function onSelected(ev) {
    if (!ev || !ev.points) { showSelection([]); return; }
    const chosen = [];
    for (const p of ev.points) {
      if (p.curveNumber === 0) continue;  // filtered out
      const list = state.traceIdx[p.curveNumber];
      const i = list && list[p.pointIndex != null ? p.pointIndex : p.pointNumber];
      if (i != null) chosen.push(i);
    }
    showSelection(chosen);
  }

  function showSelection(indices) {
    const d = state.data;
    const grid = $("grid");
    grid.innerHTML = "";
    if (!indices.length) {
      $("sel-count").textContent = "";
      grid.innerHTML = '<p class="muted empty-note">Select points with the box or lasso tool.</p>';
      grid.dataset.count = "0";
      return;
    }
    if (!d.categorical) indices.sort((a, b) => (d.color[b] ?? -Infinity) - (d.color[a] ?? -Infinity));
    const shown = indices.slice(0, MAX_THUMBS);
    $("sel-count").textContent = `${indices.length.toLocaleString()} selected` +
      (indices.length > shown.length ? `, first ${shown.length}` : "") + (d.categorical ? "" : ` by ${d.color_label}, highest first`);
    const frag = document.createDocumentFragment();
    for (const i of shown) {
      const id = d.object_id[i];
      const a = document.createElement("a");
      a.className = "thumb";
      a.href = objectUrl(id);
      a.title = id;
      a.dataset.id = id;
      const img = document.createElement("img");
      img.src = imageUrl(id, "real");
      img.alt = id;
      img.loading = "lazy";
      const cap = document.createElement("span");
      cap.textContent = d.categorical ? categoryName(d.color_column, d.color[i]) : fmt(d.color[i], 2);
      a.append(img, cap);
      a.addEventListener("mouseenter", () => preview(id));
      a.addEventListener("focus", () => preview(id));
      frag.appendChild(a);
    }
    grid.appendChild(frag);
    grid.dataset.count = String(shown.length);
  }

  async function preview(id) {
    const seq = ++state.previewSeq;
    const box = $("preview");
    box.classList.remove("empty");
    for (const kind of ["real", "reconstruction", "residual"]) $(`pv-${kind}`).src = imageUrl(id, kind);
    box.dataset.id = id;
    const info = $("pv-info");
    info.innerHTML = "";
    const link = document.createElement("a");
    link.href = objectUrl(id);
    link.textContent = id;
    info.append(link);
    try {
      const o = await api(`/api/objects/${id}?run=${state.run}`);
      if (seq !== state.previewSeq) return;
      const extra = document.createElement("span");
      const mask = o.in_bright_star_mask == null ? "" : o.in_bright_star_mask ? " \u00b7 in mask" : "";
      const cluster = o.gmm_label == null ? "" : ` \u00b7 GMM ${o.gmm_label}`;
      extra.textContent = ` \u00b7 s_disc ${fmt(o.s_disc_sigma, 2)}\u03c3 \u00b7 s_gen ${fmt(o.s_gen_sigma, 2)}\u03c3 \u00b7 s_anom ${fmt(o.s_anom_sigma, 2)}\u03c3${cluster}${mask}`;
      info.append(extra);
    } catch (err) {
      if (seq === state.previewSeq) info.append(` \u00b7 ${err.message}`);
    }
  }

  // -- filter ------------------------------------------------------------------------------
  function filterBody() {
    const body = {run: state.run, min_sigma: {}, mask: $("mask").value};
    for (const col of cfg.sigma_columns) {
      const v = $(`min-${col}`).value;
      if (v !== "") body.min_sigma[col] = Number(v);
    }
    const method = $("cluster-method").value;
    if (method) body.cluster = {method, label: $("cluster-label").value === "" ? null : Number($("cluster-label").value)};
    const where = $("where").value.trim();
    if (where) body.where = where;
    return body;
  }

  $("filter-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const status = $("filter-status");
    status.className = "muted";
    status.textContent = "filtering\u2026";
    try {
      const res = await api("/api/filter", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(filterBody())});
      state.match = new Set(res.object_id);
      status.textContent = `${res.n.toLocaleString()} objects of run ${res.run} pass`;
      status.dataset.n = String(res.n);
      await draw();
    } catch (err) {
      status.className = "error";
      status.textContent = err.message;
      status.dataset.n = "";
    }
  });

  $("clear").addEventListener("click", async () => {
    $("filter-form").reset();
    state.match = null;
    $("filter-status").textContent = "";
    await draw();
  });

  // -- wiring ------------------------------------------------------------------------------
  $("run").addEventListener("change", async (ev) => {
    state.run = Number(ev.target.value);
    state.match = null;
    $("filter-status").textContent = "";
    history.replaceState(null, "", `/?run=${state.run}`);
    await loadPoints();
  });
  $("space").addEventListener("change", async (ev) => { state.space = ev.target.value; await loadPoints(); });
  $("color").addEventListener("change", async (ev) => { state.color = ev.target.value; await loadPoints(); });

  (async () => {
    try {
      if (await loadRuns()) await loadPoints();
    } catch (err) {
      setStatus(err.message, true);
    }
  })();
})();
