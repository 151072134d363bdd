// Planning II: hotspots, hour-of-week deployment and beats, drawn over the command map's base.
(function () {
  "use strict";
  const side = document.getElementById("planning2");
  const mapEl = document.getElementById("map");
  if (!side || !mapEl) return;
  const t = JSON.parse(document.getElementById("planning2-i18n").textContent);
  const status = document.getElementById("planning2-status");
  const summary = document.getElementById("planning2-summary");
  const detail = document.getElementById("planning2-detail");
  const adoptButton = document.getElementById("planning2-adopt");
  const exportsEl = document.getElementById("planning2-exports");
  const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
  const CLASS_COLORS = { hot: "#d73027", cold: "#4575b4", none: "#bbbbbb" };
  const BEAT_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"];
  let ready = false;
  const pending = [];
  let current = null;
  mapEl.addEventListener("fangkong:areas-drawn", () => { ready = true; pending.splice(0).forEach((f) => f()); });
  function whenMap(f) { if (ready) f(); else pending.push(f); }
  function map() { return window.fangkongMap; }
  function say(text, error) { status.textContent = text || ""; status.classList.toggle("error", Boolean(error)); }
  async function api(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: Object.assign({ Accept: "application/json", "Content-Type": "application/json" }, headers),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const d = Array.isArray(data.detail) ? data.detail.map((x) => x.msg || x.message).join("; ") : "";
      throw new Error(data.text || data.message || d || url + ": HTTP " + response.status);
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
  function figures(pairs) {
    summary.replaceChildren(...pairs.flatMap(([k, v]) => [el("span", {}, k), el("strong", {}, v)]));
  }
  function table(header, rows) {
    return el("table", { class: "planning-table" },
      el("thead", {}, el("tr", {}, header.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c))))));
  }

  // --- map layers ---------------------------------------------------------------------------
  const LAYERS = ["p2-density", "p2-cells", "p2-cells-line", "p2-segments-new", "p2-segments", "p2-beats", "p2-beats-line", "p2-stations", "p2-stations-line"];
  function clearLayers() {
    const m = map();
    LAYERS.forEach((id) => { if (m.getLayer(id)) m.removeLayer(id); });
    ["p2-density", "p2-cells", "p2-segments", "p2-beats", "p2-stations"].forEach((id) => { if (m.getSource(id)) m.removeSource(id); });
  }
  function collection(features) { return { type: "FeatureCollection", features }; }
  function fit(features) {
    const b = new maplibregl.LngLatBounds();
    const walk = (c) => (typeof c[0] === "number" ? b.extend(c) : c.forEach(walk));
    features.forEach((f) => walk(f.geometry.coordinates));
    if (!b.isEmpty()) map().fitBounds(b, { padding: 30, maxZoom: 15 });
  }
  function drawHotspots(geo) {
    whenMap(() => {
      const m = map();
      clearLayers();
      const by = (kind) => geo.features.filter((f) => f.properties.kind === kind);
      m.addSource("p2-density", { type: "geojson", data: collection(by("density")) });
      m.addLayer({ id: "p2-density", type: "fill", source: "p2-density",
        paint: { "fill-color": "#fd8d3c", "fill-opacity": ["interpolate", ["linear"], ["get", "band"], 0, 0.12, 4, 0.45] } });
      const cells = by("cell").filter((f) => f.properties.class !== "none" || f.properties.trend === "fading");
      m.addSource("p2-cells", { type: "geojson", data: collection(cells) });
      m.addLayer({ id: "p2-cells", type: "fill", source: "p2-cells",
        paint: { "fill-color": ["match", ["get", "class"], "hot", CLASS_COLORS.hot, "cold", CLASS_COLORS.cold, CLASS_COLORS.none], "fill-opacity": 0.55 } });
      m.addLayer({ id: "p2-cells-line", type: "line", source: "p2-cells",
        paint: { "line-color": ["match", ["get", "trend"], "new", "#000000", "fading", "#777777", "#ffffff"], "line-width": ["match", ["get", "trend"], "new", 2, "fading", 1.5, 0.5] } });
      // road segments as lines: hot red, cold blue, fading grey, the others purple; width by
      // incidents per km; a new hotspot on a black casing
      m.addSource("p2-segments", { type: "geojson", data: collection(by("segment")) });
      const width = ["interpolate", ["linear"], ["get", "per_km"], 0, 1.5, 50, 6];
      m.addLayer({ id: "p2-segments-new", type: "line", source: "p2-segments", filter: ["==", ["get", "trend"], "new"],
        paint: { "line-color": "#000000", "line-width": ["+", width, 3] } });
      m.addLayer({ id: "p2-segments", type: "line", source: "p2-segments",
        paint: { "line-color": ["case", ["==", ["get", "class"], "hot"], CLASS_COLORS.hot, ["==", ["get", "class"], "cold"], CLASS_COLORS.cold,
          ["==", ["get", "trend"], "fading"], "#777777", "#7a0177"], "line-width": width } });
      m.on("click", "p2-segments", (e) => {
        const p = e.features[0].properties;
        new maplibregl.Popup().setLngLat(e.lngLat).setText(
          `${t["planning2.segment"]} ${p.segment} · ${t["planning2.count"]} ${p.count} · ${num(p.per_km)} ${t["planning2.per_km"]}` +
          (p.z !== undefined && p.z !== null && p.z !== "null" ? ` · z ${p.z}` : "") +
          (p.class && p.class !== "none" ? ` · ${t["planning2." + p.class] || p.class}` : "") +
          (p.trend && p.trend !== "null" && p.trend !== "none" ? ` · ${t["planning2." + p.trend] || p.trend}` : "")).addTo(m);
      });
      m.on("click", "p2-cells", (e) => {
        const p = e.features[0].properties;
        new maplibregl.Popup().setLngLat(e.lngLat).setText(
          `${t["planning2.count"]} ${p.count} · z ${p.z} · ${t["planning2.class"]} ${t["planning2." + p.class] || p.class}` +
          (p.trend && p.trend !== "null" ? ` · ${t["planning2." + p.trend] || p.trend}` : "")).addTo(m);
      });
      fit(cells.length ? cells : by("density"));
    });
  }
  function drawStations(geo) {
    // each station's precinct shaded by its proposed unit-hours against today's (green: fewer)
    whenMap(() => {
      const m = map();
      clearLayers();
      geo.features.forEach((f) => {
        const p = f.properties;
        p.ratio = p.unit_hours_today > 0 ? p.unit_hours_proposed / p.unit_hours_today : 1;
      });
      m.addSource("p2-stations", { type: "geojson", data: geo });
      m.addLayer({ id: "p2-stations", type: "fill", source: "p2-stations",
        paint: { "fill-color": ["interpolate", ["linear"], ["get", "ratio"], 0, "#1a9850", 1, "#ffffbf", 2, "#d73027"], "fill-opacity": 0.45 } });
      m.addLayer({ id: "p2-stations-line", type: "line", source: "p2-stations", paint: { "line-color": "#222222", "line-width": 1.5 } });
      m.on("click", "p2-stations", (e) => {
        const p = e.features[0].properties;
        new maplibregl.Popup().setLngLat(e.lngLat).setText(
          `${p.code} · ${t["planning2.unit_hours"]} ${p.unit_hours_today} → ${p.unit_hours_proposed} · ` +
          `${t["planning2.share_today"]} ${pct(p.ring_share_today)} · ${t["planning2.share_proposed"]} ${pct(p.ring_share_proposed)}`).addTo(m);
      });
      fit(geo.features);
    });
  }
  function drawBeats(geo) {
    whenMap(() => {
      const m = map();
      clearLayers();
      geo.features.forEach((f, i) => { f.properties.color = BEAT_COLORS[i % BEAT_COLORS.length]; });
      m.addSource("p2-beats", { type: "geojson", data: geo });
      m.addLayer({ id: "p2-beats", type: "fill", source: "p2-beats", paint: { "fill-color": ["get", "color"], "fill-opacity": 0.4 } });
      m.addLayer({ id: "p2-beats-line", type: "line", source: "p2-beats", paint: { "line-color": "#222222", "line-width": 2 } });
      fit(geo.features);
    });
  }

  // --- results --------------------------------------------------------------------------------
  function showHotspots(a) {
    const r = a.result;
    const pairs = [[t["planning2.incidents"], num(r.incidents)], [t["planning2.hot"], num(r.hot)],
      [t["planning2.cold"], num(r.cold)], [t["planning2.fdr"], r.fdr_cut === null ? "–" : Number(r.fdr_cut).toPrecision(3)]];
    if (r.compare) pairs.push([t["planning2.new"], num(r.compare.new)], [t["planning2.persistent"], num(r.compare.persistent)], [t["planning2.fading"], num(r.compare.fading)]);
    const sg = r.segment_gi;
    if (sg) {
      pairs.push([t["planning2.segment_hot"], num(sg.hot)], [t["planning2.segment_cold"], num(sg.cold)]);
      if (sg.compare) pairs.push([t["planning2.segment_trend"], `${num(sg.compare.new)} / ${num(sg.compare.persistent)} / ${num(sg.compare.fading)}`]);
    }
    figures(pairs);
    const hot = r.cells.filter((c) => c.class === "hot").slice(0, 15);
    const p = (x) => (r.inference === "sim" ? x.p_sim : x.p_norm);
    const trendOf = (x) => (x.trend && x.trend !== "none" ? t["planning2." + x.trend] || "" : "");
    const hotSegments = (r.segments || []).filter((s) => s.class === "hot").sort((a, b) => b.z - a.z).slice(0, 10);
    detail.replaceChildren(
      table([t["planning2.class"], t["planning2.count"], "z", "p", t["planning2.trend"]],
        hot.map((c) => [t["planning2." + c.class], c.count, c.z, p(c), trendOf(c)])),
      el("h2", {}, t["planning2.segments_hot"]),
      table([t["planning2.segment"], t["planning2.count"], t["planning2.per_km"], "z", "p", t["planning2.trend"]],
        hotSegments.map((s) => [s.segment, s.count, num(s.per_km), s.z, p(s), trendOf(s)])),
      el("h2", {}, t["planning2.segments_top"]),
      table([t["planning2.count"], t["planning2.per_km"], "m"], (r.segments || []).slice(0, 10).map((s) => [s.count, num(s.per_km), num(s.length_m)])));
    fetch(`/api/v1/planning/analyses/${a.id}/geojson`, { credentials: "same-origin" }).then((x) => x.json()).then(drawHotspots);
  }
  function heat(row) {
    const days = t["planning2.weekdays"].split(",");
    const top = Math.max(1, ...row.expected);
    const body = days.map((d, day) => el("tr", {}, el("th", {}, d), ...Array.from({ length: 24 }, (_, h) => {
      const i = day * 24 + h;
      const cell = el("td", { title: `${t["planning2.expected"]} ${row.expected[i]} [${row.low[i]}–${row.high[i]}] · ${t["planning2.today"]} ${row.today[i]} · ${t["planning2.proposed"]} ${row.proposed[i]}` }, row.proposed[i]);
      const level = Math.round(255 - 180 * (row.expected[i] / top));
      cell.style.background = `rgb(255, ${level}, ${Math.round(level * 0.8)})`;
      if (row.proposed[i] > row.today[i]) cell.style.fontWeight = "bold";
      return cell;
    })));
    return el("div", { class: "planning2-detail-scroll" }, el("table", { class: "planning2-heat" },
      el("thead", {}, el("tr", {}, el("th", {}, ""), ...Array.from({ length: 24 }, (_, h) => el("th", {}, h)))), el("tbody", {}, body)));
  }
  function showDeployment(a) {
    const r = a.result;
    const h = r.holdout || {};
    figures([[t["planning2.holdout"], h.weeks_held ? `${pct(h.coverage_90)} (MAE ${h.mae} / ${h.mae_unsmoothed})` : "–"]]);
    const parts = [];
    r.stations.forEach((s) => {
      parts.push(el("h2", {}, `${s.code} ${document.documentElement.lang === "en" ? s.name_en : s.name_zh}`));
      if (!s.expected) { parts.push(el("p", { class: "hint" }, s.skipped)); return; }
      parts.push(table([t["planning2.unit_hours"], t["planning2.share_today"], t["planning2.share_proposed"]],
        [[`${s.unit_hours_today} → ${s.unit_hours_proposed}`, pct(s.ring_share_today), pct(s.ring_share_proposed)]]));
      parts.push(heat(s));
    });
    detail.replaceChildren(...parts);
    if (r.geojson) drawStations(r.geojson);
  }
  function showBeats(a) {
    const r = a.result;
    figures([[t["planning2.grids"], r.grids], [t["planning2.imbalance"], Number(r.imbalance).toFixed(3)], [t["planning2.farthest"], `${num(r.farthest_s)} s`]]);
    detail.replaceChildren(table([t["planning2.beat"], t["planning2.grids"], t["planning2.workload"], t["planning2.farthest"]],
      r.geojson.features.map((f) => [f.properties.code, f.properties.grids.length, num(f.properties.workload_h), `${num(f.properties.farthest_s)} s`])));
    drawBeats(r.geojson);
  }
  function show(a) {
    current = a;
    exportsEl.hidden = false;
    document.getElementById("planning2-xlsx").href = `/api/v1/planning/analyses/${a.id}/xlsx`;
    document.getElementById("planning2-geojson").href = `/api/v1/planning/analyses/${a.id}/geojson`;
    // a district's beats may cross its stations: drawn and exported, not adopted
    if (adoptButton) adoptButton.hidden = a.kind === "hotspot" || Boolean(a.accepted_at) || (a.kind === "beats" && a.result.level === "district");
    if (a.kind === "hotspot") showHotspots(a);
    else if (a.kind === "deployment") showDeployment(a);
    else showBeats(a);
    say(t["planning2.done"]);
  }

  // --- forms ----------------------------------------------------------------------------------
  document.querySelectorAll(".planning2-tabs [data-tab]").forEach((button) => button.addEventListener("click", () => {
    document.querySelectorAll(".planning2-tabs [data-tab]").forEach((b) => b.setAttribute("aria-selected", String(b === button)));
    document.querySelectorAll("[data-panel]").forEach((p) => { p.hidden = p.dataset.panel !== button.dataset.tab; });
  }));
  const list = (text) => (text || "").split(",").map((s) => s.trim()).filter(Boolean);
  async function submit(form, url, body) {
    say(t["planning2.computing"]);
    form.querySelector("button[type=submit]").disabled = true;
    try { show(await api("POST", url, body)); } catch (e) { say(e.message, true); }
    finally { form.querySelector("button[type=submit]").disabled = false; }
  }
  document.getElementById("hotspots-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    const days = Math.max(1, Number(data.get("days") || 90));
    const end = new Date();
    const start = new Date(end.getTime() - days * 86400000);
    const body = { start: start.toISOString(), end: end.toISOString(), resolution: Number(data.get("resolution")),
      categories: list(data.get("categories")), priorities: list(data.get("priorities")),
      hours: list(data.get("hours")).map(Number) };
    if (data.get("area_code")) body.area_code = data.get("area_code");
    if (data.get("compare")) { body.compare_end = body.start; body.compare_start = new Date(start.getTime() - days * 86400000).toISOString(); }
    submit(event.target, "/api/v1/planning/hotspots", body);
  });
  document.getElementById("deployment-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    const body = { weeks: Number(data.get("weeks")), target: Number(data.get("target")) / 100 };
    if (data.get("area_code")) body.area_code = data.get("area_code");
    submit(event.target, "/api/v1/planning/deployment", body);
  });
  document.getElementById("beats-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    submit(event.target, "/api/v1/planning/beats", { area_code: data.get("area_code"), k: Number(data.get("k")) });
  });
  if (adoptButton) adoptButton.addEventListener("click", async () => {
    if (!current) return;
    try {
      const answer = await api("POST", `/api/v1/planning/analyses/${current.id}/adopt`);
      adoptButton.hidden = true;
      const moved = answer && answer.detail && answer.detail.regrouped;
      if (moved) {
        // beats adopted: say what the area tree took (areas.regroup's report)
        const figures = {
          created: moved.created.length, kept: moved.kept.length, removed: moved.removed.length,
          grids: moved.moved_grids, rows: moved.rewritten_rows, up: moved.moved_up_rows,
        };
        say(t["planning2.regrouped"].replace(/\{(\w+)\}/g, (m, k) => (k in figures ? String(figures[k]) : m)));
      } else {
        say(t["planning2.adopted"]);
      }
    } catch (e) { say(e.message, true); }
  });
  document.querySelectorAll("[data-analysis]").forEach((link) => link.addEventListener("click", async (event) => {
    event.preventDefault();
    try { show(await api("GET", `/api/v1/planning/analyses/${link.dataset.analysis}`)); } catch (e) { say(e.message, true); }
  }));
})();
