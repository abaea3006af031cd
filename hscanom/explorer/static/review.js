// Review mode: label the ranking's queue, re-rank, see relevance on the scatter.
// Object ids stay strings (JavaScript numbers lose ids > 2**53).
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("review-config").textContent);
  const run = cfg.run;
  const labels = [...cfg.interesting, ...cfg.artefacts];           // keys 1..9, 0
  const keys = labels.map((_, i) => String((i + 1) % 10));
  const user = document.getElementById("user");
  const status = document.getElementById("status");
  const grid = document.getElementById("queue");
  const nSel = document.getElementById("queue-n");
  let cards = [];
  let focus = 0;

  user.value = localStorage.getItem("hscanom.user") || "";
  user.addEventListener("change", () => localStorage.setItem("hscanom.user", user.value));

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  async function api(path, options) {
    const r = await fetch(path, options);
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
    return body;
  }

  function setFocus(i) {
    if (!cards.length) return;
    focus = Math.max(0, Math.min(cards.length - 1, i));
    cards.forEach((c, j) => c.classList.toggle("focused", j === focus));
    cards[focus].scrollIntoView({ block: "nearest" });
  }

  function button(card, label, kind, key) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = `lab ${kind}`;
    b.dataset.label = label;
    b.textContent = key ? `${key} ${label.replace("_", " ")}` : label.replace("_", " ");
    b.addEventListener("click", (ev) => { ev.stopPropagation(); labelCard(card, label); });
    return b;
  }

  function makeCard(item, index) {
    const card = document.createElement("article");
    card.className = "review-card";
    card.dataset.objectId = item.object_id;
    card.tabIndex = 0;
    const trip = document.createElement("div");
    trip.className = "triptych";
    for (const kind of ["real", "reconstruction", "residual"]) {
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.src = item.images[kind];
      img.alt = `${kind} of ${item.object_id}`;
      img.className = `img-${kind}`;
      const cap = document.createElement("figcaption");
      cap.textContent = kind === "residual" ? "|residual|" : kind;
      fig.append(img, cap);
      trip.append(fig);
    }
    const info = document.createElement("p");
    info.className = "pv-info";
    const link = document.createElement("a");
    link.href = `/object/${item.object_id}?run=${run}`;
    link.target = "_blank";
    link.textContent = item.object_id;
    const s = item.s_anom_sigma == null ? "—" : item.s_anom_sigma.toFixed(2);
    info.append(link, ` · rank ${item.rank} · relevance ${item.relevance.toFixed(3)} ± ${item.uncertainty.toFixed(3)} · prior u ${item.prior.toFixed(3)} · s_anom ${s}σ · ${item.why}`);
    const buttons = document.createElement("div");
    buttons.className = "lab-buttons";
    cfg.interesting.forEach((l, i) => buttons.append(button(card, l, "interesting", keys[i])));
    cfg.artefacts.forEach((l, i) => buttons.append(button(card, l, "artefact", keys[i + cfg.interesting.length])));
    buttons.append(button(card, cfg.not_interesting, "not", "n"));
    const done = document.createElement("p");
    done.className = "lab-done";
    card.append(trip, info, buttons, done);
    card.addEventListener("click", () => setFocus(index));
    return card;
  }

  async function labelCard(card, label) {
    if (!user.value.trim()) { say("type your name first (labels keep who gave them)", true); user.focus(); return; }
    localStorage.setItem("hscanom.user", user.value);
    try {
      const out = await api("/api/labels", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ object_id: card.dataset.objectId, label, user_name: user.value, run }),
      });
      card.classList.add("labelled");
      card.querySelector(".lab-done").textContent = `labelled ${out.label} by ${out.user_name}`;
      say(`${card.dataset.objectId}: ${out.label}`);
      const next = cards.findIndex((c, j) => j > cards.indexOf(card) && !c.classList.contains("labelled"));
      if (next >= 0) setFocus(next);
    } catch (e) { say(e.message, true); }
  }

  async function loadQueue() {
    try {
      const out = await api(`/api/runs/${run}/queue?n=${nSel.value}`);
      grid.replaceChildren();
      cards = out.queue.map((item, i) => makeCard(item, i));
      grid.append(...cards);
      document.getElementById("queue-info").textContent =
        cards.length ? `${cards.length} objects, ranking ${out.queue[0].ranking_id}` : "nothing left to label";
      setFocus(0);
    } catch (e) {
      grid.replaceChildren();
      cards = [];
      document.getElementById("queue-info").textContent = "";
      say(`${e.message} — press Re-rank to make the first ranking`, true);
    }
  }

  async function loadPlot() {
    try {
      const r = await fetch(`/api/runs/${run}/points?color=relevance`);
      const p = await r.json();
      if (!r.ok) throw new Error(p.error);
      document.getElementById("plot-info").textContent = `${p.n} objects, ${p.space} space`;
      Plotly.react("rel-plot", [{
        type: "scattergl", mode: "markers", x: p.x, y: p.y, text: p.object_id,
        marker: { size: 5, color: p.color.map((c) => (c == null ? 0 : c)), colorscale: "Viridis", cmin: 0, cmax: 1,
                  colorbar: { title: { text: "relevance" } } },
        hovertemplate: "%{text}<br>relevance %{marker.color:.3f}<extra></extra>",
      }], { margin: { l: 48, r: 8, t: 8, b: 40 }, xaxis: { title: { text: p.x_label } }, yaxis: { title: { text: p.y_label } } },
      { displaylogo: false, responsive: true });
      document.getElementById("rel-plot").dataset.colored = p.color.some((c) => c != null) ? "relevance" : "none";
    } catch (e) { say(e.message, true); }
  }

  document.getElementById("rerank").addEventListener("click", async () => {
    say("ranking…");
    try {
      const out = await api(`/api/runs/${run}/rank`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      say(`ranking ${out.ranking_id}: ${out.n_labels} labels (${out.n_interesting} interesting), model ${out.model}`);
      document.body.dataset.ranking = out.ranking_id;
      await Promise.all([loadQueue(), loadPlot()]);
    } catch (e) { say(e.message, true); }
  });
  nSel.addEventListener("change", loadQueue);

  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement || ev.metaKey || ev.ctrlKey || ev.altKey) return;
    if (!cards.length) return;
    if (ev.key === "ArrowRight") { setFocus(focus + 1); ev.preventDefault(); return; }
    if (ev.key === "ArrowLeft") { setFocus(focus - 1); ev.preventDefault(); return; }
    const i = keys.indexOf(ev.key);
    if (i >= 0) { labelCard(cards[focus], labels[i]); ev.preventDefault(); }
    else if (ev.key === "n") { labelCard(cards[focus], cfg.not_interesting); ev.preventDefault(); }
  });

  loadQueue();
  loadPlot();
})();
