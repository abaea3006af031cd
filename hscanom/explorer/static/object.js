// hscanom explorer: the object page's label form (POST /api/labels, then show the new row).
"use strict";

(function () {
  const page = document.querySelector("main.object");
  const form = document.getElementById("label-form");
  const user = document.getElementById("user");
  const status = document.getElementById("label-status");
  const tbody = document.querySelector("#labels tbody");

  user.value = localStorage.getItem("hscanom.user") || "";

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.className = "muted";
    status.textContent = "saving\u2026";
    const body = {
      object_id: page.dataset.object, // a string: ids > 2^53 stay exact
      run: Number(page.dataset.run),
      label: document.getElementById("label").value,
      note: document.getElementById("note").value,
      user_name: user.value,
    };
    try {
      const r = await fetch("/api/labels", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
      });
      const out = await r.json();
      if (!r.ok) throw new Error(out.error || r.statusText);
      localStorage.setItem("hscanom.user", user.value);
      const row = document.createElement("tr");
      row.className = "label-row new";
      row.dataset.id = out.id;
      cell(row, out.label); cell(row, out.note); cell(row, out.user_name); cell(row, out.run_id);
      cell(row, new Date(out.created_at).toISOString().replace("T", " ").slice(0, 16));
      tbody.querySelectorAll("tr.empty").forEach((r) => r.remove());
      tbody.prepend(row);
      document.getElementById("note").value = "";
      status.textContent = `saved label ${out.id}`;
    } catch (err) {
      status.className = "error";
      status.textContent = err.message;
    }
  });
})();
