// Planning pages: coverage, placement and the control ring, drawn over the command map's base.
(function () {
  "use strict";
  const side = document.getElementById("planning");
  const mapEl = document.getElementById("map");
  if (!side || !mapEl) return;
  const page = side.dataset.page;
  const t = JSON.parse(document.getElementById("planning-i18n").textContent);
  const status = document.getElementById("planning-status");
  const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
  const RING_COLORS = { "60": "#1a9850", "180": "#fdae61", "300": "#d73027", beyond: "#6c757d" };
  let ready = false;
  const pending = [];
  mapEl.addEventListener("fangkong:areas-drawn", () => { ready = true; pending.splice(0).forEach((f) => f()); });
  function whenMap(f) { if (ready) f(); else pending.push(f); }
  function map() { return window.fangkongMap; }

  function say(text, error) {
    status.textContent = text || "";
    status.classList.toggle("error", Boolean(error));
  }
  async function api(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: Object.assign({ Accept: "application/json", "Content-Type": "application/json" }, headers),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg || d.message).join("; ") : "";
      throw new Error(data.text || data.message || detail || url + ": HTTP " + response.status);
    }
    return data;
  }
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + " %");
  const num = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString(document.documentElement.lang, { maximumFractionDigits: 2 }));
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => (k === "class" ? (node.className = v) : node.setAttribute(k, v)));
    children.flat().forEach((c) => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return node;
  }
  function table(header, rows) {
    return el("table", { class: "planning-table" },
      el("thead", {}, el("tr", {}, header.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows));
  }
  function demandParams(form) {
    const data = new FormData(form);
    const body = { demand: data.get("demand"), unit_type: data.get("unit_type") };
    if (data.get("area_code")) body.area_code = data.get("area_code");
    if (data.get("weight_column") && body.demand === "addresses") body.weight_column = data.get("weight_column");
    if (body.demand === "incidents") {
      const days = Math.max(1, Number(data.get("days") || 30));
      const end = new Date();
      body.end = end.toISOString();
      body.start = new Date(end.getTime() - days * 86400000).toISOString();
    }
    return body;
  }

  // --- map layers -----------------------------------------------------------------------------
  const SOURCES = ["pl-service", "pl-demand", "pl-sites", "pl-crossings", "pl-next"];
  function clearLayers() {
    const m = map();
    SOURCES.forEach((id) => {
      [id + "-fill", id + "-line", id].forEach((layer) => { if (m.getLayer(layer)) m.removeLayer(layer); });
      if (m.getSource(id)) m.removeSource(id);
    });
  }
  function drawRun(geojson) {
    const m = map();
    clearLayers();
    const pick = (layer) => ({ type: "FeatureCollection", features: geojson.features.filter((f) => f.properties.layer === layer) });
    m.addSource("pl-service", { type: "geojson", data: pick("service_area") });
    m.addLayer({ id: "pl-service-fill", type: "fill", source: "pl-service", paint: { "fill-color": "#3a86ff", "fill-opacity": 0.08 } });
    m.addLayer({ id: "pl-service-line", type: "line", source: "pl-service", paint: { "line-color": "#3a86ff", "line-width": 1.2 } });
    m.addSource("pl-demand", { type: "geojson", data: pick("demand") });
    m.addLayer({ id: "pl-demand", type: "circle", source: "pl-demand", paint: {
      "circle-radius": 3, "circle-stroke-width": 0.5, "circle-stroke-color": "#fff",
      "circle-color": ["match", ["get", "ring"], "60", RING_COLORS["60"], "180", RING_COLORS["180"], "300", RING_COLORS["300"], RING_COLORS.beyond] } });
    m.addSource("pl-crossings", { type: "geojson", data: pick("crossing") });
    m.addLayer({ id: "pl-crossings", type: "circle", source: "pl-crossings", paint: {
      "circle-radius": 6, "circle-stroke-width": 2, "circle-stroke-color": "#1d2733",
      "circle-color": ["case", ["to-boolean", ["get", "checkpoint"]], "#1a9850", "#d62828"] } });
    m.addSource("pl-next", { type: "geojson", data: pick("next_checkpoint") });
    m.addLayer({ id: "pl-next", type: "circle", source: "pl-next", paint: {
      "circle-radius": 9, "circle-color": "#ffbe0b", "circle-stroke-width": 2, "circle-stroke-color": "#1d2733" } });
    m.addSource("pl-sites", { type: "geojson", data: pick("site") });
    m.addLayer({ id: "pl-sites", type: "circle", source: "pl-sites", paint: {
      "circle-radius": 7, "circle-stroke-width": 2, "circle-stroke-color": "#fff",
      "circle-color": ["match", ["get", "kind"], "post", "#0b4f8a", "added", "#8338ec", "moved", "#ff006e", "#8338ec"] } });
    applyToggles();
    m.once("idle", () => { mapEl.dataset.planning = "ready"; });
  }
  function applyToggles() {
    const m = map();
    const box = document.getElementById("ring-toggles");
    if (!box || !m.getLayer("pl-demand")) return;
    const shown = [...box.querySelectorAll("input[data-ring]")].filter((i) => i.checked).map((i) => i.dataset.ring);
    m.setFilter("pl-demand", ["in", ["get", "ring"], ["literal", shown]]);
    const service = box.querySelector("input[data-layer=service_area]");
    ["pl-service-fill", "pl-service-line"].forEach((id) => m.setLayoutProperty(id, "visibility", service && service.checked ? "visible" : "none"));
  }
  const toggles = document.getElementById("ring-toggles");
  if (toggles) toggles.addEventListener("change", () => whenMap(applyToggles));

  async function showRunLayers(runId) {
    const geojson = await api("GET", "/api/v1/planning/runs/" + runId + "/geojson");
    whenMap(() => drawRun(geojson));
  }

  // --- coverage -------------------------------------------------------------------------------
  function renderCoverage(run) {
    const result = run.result;
    const rings = Object.keys(result.totals.share);
    const summary = document.getElementById("coverage-summary");
    summary.replaceChildren(
      el("p", {}, `#${run.id} · ${result.demand.points} ${t["planning.points"]} · ${t["planning.weight"]} ${num(result.totals.weight)} · ${result.sites.length} ${t["planning.sites"]}`),
      el("div", { class: "planning-figures" }, rings.flatMap((r) => [el("span", {}, `${r} s ${t["planning.within"]}`), el("strong", {}, pct(result.totals.share[r]))])),
      el("p", {}, `${t["planning.worst_grids"]}: ${result.worst_grids.slice(0, 8).join(", ") || "–"}`),
      el("p", {}, el("a", { href: `/api/v1/planning/runs/${run.id}/xlsx` }, "XLSX"), " · ", el("a", { href: `/api/v1/planning/runs/${run.id}/geojson` }, "GeoJSON"))
    );
    const worst = new Set(result.worst_grids.slice(0, 5));
    const rows = result.areas.filter((a) => a.points > 0).map((a) =>
      el("tr", { class: `depth-${a.depth}` + (worst.has(a.code) ? " worst" : ""), "data-code": a.code },
        el("td", {}, `${a.code} ${side.dataset.lang === "en" ? a.name_en : a.name_zh}`),
        el("td", { class: "num" }, num(a.weight)),
        rings.map((r) => el("td", { class: "num" }, pct(a.share[r])))));
    document.getElementById("coverage-table").replaceChildren(
      table([t["planning.area"], t["planning.weight"], ...rings.map((r) => `≤${r}s`)], rows));
  }
  async function loadCoverage(runId) {
    const run = await api("GET", "/api/v1/planning/runs/" + runId);
    renderCoverage(run);
    await showRunLayers(run.id);
  }
  const coverageForm = document.getElementById("coverage-form");
  if (coverageForm) {
    coverageForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      say(t["planning.computing"]);
      mapEl.dataset.planning = "";
      try {
        const body = demandParams(coverageForm);
        const scenario = new FormData(coverageForm).get("scenario_id");
        if (scenario) body.scenario_id = Number(scenario);
        const run = await api("POST", "/api/v1/planning/coverage", body);
        renderCoverage(run);
        await showRunLayers(run.id);
        say("");
      } catch (err) { say(String(err.message || err), true); }
    });
  }

  // --- placement ------------------------------------------------------------------------------
  const drawn = [];
  function renderPlacement(run) {
    const box = document.getElementById("placement-result");
    if (!run.result) {
      box.replaceChildren(el("p", { class: "error" }, `#${run.id} ${t["planning.status." + run.status] || run.status} ${run.error_text || run.error || ""}`));
      return;
    }
    const r = run.result;
    const rings = Object.keys(r.after.share);
    box.replaceChildren(
      el("h2", {}, `#${run.id} · ${t["planning.status." + run.status] || run.status} · ${r.status}`),
      el("div", { class: "planning-figures" },
        el("span", {}, t["planning.objective"]), el("strong", {}, num(r.objective)),
        el("span", {}, t["planning.bound"]), el("span", {}, num(r.bound)),
        el("span", {}, t["planning.gap"]), el("span", {}, r.gap === null ? "–" : (100 * r.gap).toFixed(4) + " %"),
        el("span", {}, t["planning.heuristic"]), el("span", {}, `${num(r.heuristic_objective)} (${r.heuristic_s} s)`),
        el("span", {}, t["planning.unreachable"]), el("span", {}, `${r.demand.unreachable} ${r.demand.unreachable_names.slice(0, 5).join(", ")}`)),
      table(["", t["planning.today"], t["planning.after"], t["planning.gain"]], rings.map((k) =>
        el("tr", {}, el("td", {}, `≤${k}s`), el("td", { class: "num" }, pct(r.before.share[k])),
          el("td", { class: "num" }, pct(r.after.share[k])),
          el("td", { class: "num" }, pct((r.after.share[k] || 0) - (r.before.share[k] || 0)))))),
      table([t["planning.code"] || "code", "kind", "lon", "lat"], r.sites.map((s) =>
        el("tr", {}, el("td", {}, s.code), el("td", {}, s.kind), el("td", { class: "num" }, s.lon.toFixed(5)), el("td", { class: "num" }, s.lat.toFixed(5))))),
      el("p", {}, el("a", { href: `/api/v1/planning/runs/${run.id}/xlsx` }, "XLSX"), " · ", el("a", { href: `/api/v1/planning/runs/${run.id}/geojson` }, "GeoJSON")));
  }
  async function follow(runId) {
    const bar = document.getElementById("placement-progress");
    const stage = document.getElementById("placement-stage");
    const cancel = document.getElementById("placement-cancel");
    if (bar) bar.hidden = false;
    if (cancel) { cancel.hidden = false; cancel.onclick = () => api("POST", `/api/v1/planning/runs/${runId}/cancel`).catch((e) => say(e.message, true)); }
    await new Promise((resolve) => {
      const source = new EventSource(`/api/v1/planning/runs/${runId}/events`);
      const update = (e) => {
        const s = JSON.parse(e.data);
        if (bar) bar.value = s.progress || 0;
        if (stage) stage.textContent = `${t["planning.status." + s.status] || s.status} · ${t["planning.stage." + s.stage] || s.stage || ""}`;
      };
      source.addEventListener("progress", update);
      source.addEventListener("done", (e) => { update(e); source.close(); resolve(); });
      source.onerror = () => { source.close(); resolve(); };
    });
    if (cancel) cancel.hidden = true;
    const run = await api("GET", "/api/v1/planning/runs/" + runId);
    renderPlacement(run);
    if (run.result) await showRunLayers(run.id);
  }
  const placementForm = document.getElementById("placement-form");
  if (placementForm) {
    whenMap(() => map().on("click", (e) => {
      const wants = placementForm.querySelector("input[value=points]");
      if (!wants || !wants.checked) return;
      drawn.push([e.lngLat.lng, e.lngLat.lat]);
      document.getElementById("drawn-count").textContent = String(drawn.length);
      new maplibregl.Marker({ color: "#8338ec" }).setLngLat(e.lngLat).addTo(map());
    }));
    placementForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(placementForm);
      const body = Object.assign(demandParams(placementForm), {
        method: data.get("method"), ring_s: Number(data.get("ring_s")),
        candidates: data.getAll("candidates"), posts: data.get("posts"),
        spacing_m: Number(data.get("spacing_m")), time_limit_s: Number(data.get("time_limit_s")),
        points: drawn,
      });
      if (body.method !== "lscp") body.p = Number(data.get("p"));
      try {
        say("");
        const run = await api("POST", "/api/v1/planning/placements", body);
        await follow(run.id);
      } catch (err) { say(String(err.message || err), true); }
    });
  }

  // --- scenarios: compare with today, replay a recorded day ----------------------------------
  const scenarioList = document.getElementById("scenario-list");
  if (scenarioList) {
    scenarioList.addEventListener("click", async (e) => {
      const button = e.target.closest("button");
      if (!button) return;
      const box = document.getElementById("scenario-result");
      say(t["planning.computing"]);
      try {
        if (button.dataset.compare) {
          const run = await api("POST", `/api/v1/planning/scenarios/${button.dataset.compare}/compare`, {});
          const r = run.result;
          box.replaceChildren(
            el("h2", {}, `${r.scenario.name} · #${run.id}`),
            table(["", t["planning.today"], t["planning.scenario_side"], t["planning.gain"]], Object.keys(r.gain).map((k) =>
              el("tr", {}, el("td", {}, `≤${k}s`), el("td", { class: "num" }, pct(r.today.totals.share[k])),
                el("td", { class: "num" }, pct(r.planned.totals.share[k])), el("td", { class: "num" }, pct(r.gain[k]))))));
          await showRunLayers(run.id);
        } else if (button.dataset.replay) {
          const day = document.getElementById("replay-day").value;
          const run = await api("POST", `/api/v1/planning/scenarios/${button.dataset.replay}/replay`, { day });
          const r = run.result;
          box.replaceChildren(
            el("h2", {}, `${r.scenario.name} · ${r.day} · ${r.incidents}`),
            table(["", t["planning.recorded"], t["planning.today"], t["planning.scenario_side"], t["planning.gain"]],
              Object.keys(r.gain).map((k) => el("tr", {}, el("td", {}, k),
                el("td", { class: "num" }, pct(r.recorded.ring_share[k])), el("td", { class: "num" }, pct(r.today.ring_share[k])),
                el("td", { class: "num" }, pct(r.planned.ring_share[k])), el("td", { class: "num" }, pct(r.gain[k]))))));
        }
        say("");
      } catch (err) { say(String(err.message || err), true); }
    });
  }

  // --- control ring ---------------------------------------------------------------------------
  function renderRing(run) {
    const r = run.result;
    const classes = Object.entries(r.by_class).sort((a, b) => b[1].weight - a[1].weight);
    document.getElementById("ring-result").replaceChildren(
      el("div", { class: "planning-figures" },
        el("span", {}, t["planning.crossings"]), el("strong", {}, `${r.closed} / ${r.count}`),
        el("span", {}, t["planning.share_count"]), el("strong", {}, pct(r.share_count)),
        el("span", {}, t["planning.share_weighted"]), el("strong", {}, pct(r.share_weighted)),
        el("span", {}, t["planning.target"]), el("span", {}, pct(r.target))),
      table([t["planning.class"], t["planning.crossings"], t["planning.closed"], t["planning.weight"]],
        classes.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", { class: "num" }, v.crossings), el("td", { class: "num" }, v.closed), el("td", { class: "num" }, v.weight)))),
      el("h2", {}, t["planning.next"]),
      table(["#", "lon", "lat", t["planning.share_weighted"]], r.next.map((n, i) =>
        el("tr", {}, el("td", {}, i + 1), el("td", { class: "num" }, n.lon.toFixed(5)), el("td", { class: "num" }, n.lat.toFixed(5)), el("td", { class: "num" }, pct(n.share_weighted_after))))));
  }
  const ringForm = document.getElementById("ring-form");
  if (ringForm) {
    ringForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(ringForm);
      say(t["planning.computing"]);
      try {
        const run = await api("POST", "/api/v1/planning/ring", {
          area_code: data.get("area_code"), snap_m: Number(data.get("snap_m")), k: Number(data.get("k")) });
        renderRing(run);
        await showRunLayers(run.id);
        say("");
      } catch (err) { say(String(err.message || err), true); }
    });
  }

  // A run named in the address (?run=ID) is shown again.
  const wanted = new URLSearchParams(location.search).get("run");
  if (wanted) {
    const load = page === "coverage" ? loadCoverage(wanted)
      : api("GET", "/api/v1/planning/runs/" + wanted).then((run) => {
        if (page === "placement") renderPlacement(run); else renderRing(run);
        return showRunLayers(run.id);
      });
    load.catch((err) => say(String(err.message || err), true));
  }
})();
