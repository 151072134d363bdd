// The live layer of the command map: open incidents, units and posts pushed by Server-Sent
// Events (/api/v1/dispatch/stream), and the board of open incidents beside the map.
// Many events may arrive between two frames: they update plain maps, and one animation frame
// redraws the map sources and the board, so 500 incidents and 300 units stay smooth.
(function () {
  "use strict";
  const el = document.getElementById("map");
  const board = document.getElementById("live-board");
  if (!el || !board || typeof maplibregl === "undefined") return;
  const map = window.fangkongMap;
  const i18n = JSON.parse(document.getElementById("live-i18n").textContent);
  const list = board.querySelector("ol");
  const counter = board.querySelector("[data-count]");
  const alertCounter = board.querySelector("[data-alerts]");
  const state = { incidents: new Map(), units: new Map(), posts: new Map(), alerts: new Map() };
  let layersReady = false;
  let scheduled = false;
  let received = 0;
  // What changed since the last redraw: only those sources are sent to the map again, and the
  // board is rebuilt only when incidents or alerts changed (unit moves leave it alone).
  const dirty = new Set();
  // At most one redraw per this many ms: a busy feed is drawn in batches, not event by event.
  const MIN_REDRAW_MS = 250;
  let lastRedraw = 0;
  // Measured by benchmarks/command_map.py: redraw times (ms) and when each incident was first
  // seen (epoch ms); both bounded.
  const stats = { redrawMs: [], seenAt: new Map() };
  window.fangkongLiveStats = stats;

  const PRIORITY_COLOR = ["match", ["get", "priority"], "P1", "#d62828", "P2", "#f77f00",
    "P3", "#e9c46a", "#4f86c6"];
  const UNIT_COLOR = ["match", ["get", "status"], "available", "#2a9d8f", "en_route", "#1d3557",
    "on_scene", "#7b2cbf", "#9aa5b1"];
  const PRIORITY_ORDER = { P1: 1, P2: 2, P3: 3, P4: 4 };

  function collection(items, properties) {
    const features = [];
    items.forEach((item) => {
      if (item.lon == null || item.lat == null) return;
      features.push({ type: "Feature", id: item.id, properties: properties(item),
        geometry: { type: "Point", coordinates: [item.lon, item.lat] } });
    });
    return { type: "FeatureCollection", features };
  }

  function incidentProps(i) {
    return { id: i.id, priority: i.priority, status: i.status, breach: state.alerts.has(i.id) ? 1 : 0 };
  }

  function addLayers() {
    const empty = { type: "FeatureCollection", features: [] };
    map.addSource("posts", { type: "geojson", data: empty });
    map.addSource("units", { type: "geojson", data: empty });
    map.addSource("incidents", { type: "geojson", data: empty });
    map.addSource("routes", { type: "geojson", data: empty });
    map.addLayer({ id: "routes", type: "line", source: "routes",
      layout: { "line-cap": "round", "line-join": "round" }, paint: {
        "line-width": ["match", ["get", "rank"], 1, 5, 3.5], "line-opacity": 0.85,
        "line-color": ["match", ["get", "ring"], "1min", "#2a9d8f", "3min", "#e9c46a",
          "5min", "#f77f00", "#d62828"] } });
    map.addLayer({ id: "posts", type: "circle", source: "posts", paint: {
      "circle-radius": 7, "circle-color": "#ffffff", "circle-stroke-color": "#0b4f8a",
      "circle-stroke-width": 3 } });
    map.addLayer({ id: "units", type: "circle", source: "units", paint: {
      "circle-radius": 5, "circle-color": UNIT_COLOR, "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 1.5 } });
    map.addLayer({ id: "incidents", type: "circle", source: "incidents", paint: {
      "circle-radius": ["match", ["get", "priority"], "P1", 9, "P2", 8, "P3", 6, 5],
      "circle-color": PRIORITY_COLOR,
      "circle-stroke-color": ["case", ["==", ["get", "breach"], 1], "#000000", "#ffffff"],
      "circle-stroke-width": ["case", ["==", ["get", "breach"], 1], 3, 1] } });
    layersReady = true;
  }

  function schedule(...what) {
    what.forEach((w) => dirty.add(w));
    if (scheduled) return;
    scheduled = true;
    const wait = Math.max(0, lastRedraw + MIN_REDRAW_MS - performance.now());
    setTimeout(() => requestAnimationFrame(redraw), wait);
  }

  function waited(iso) {
    const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // The board is kept item by item: a change touches its own row, a new incident is inserted
  // in order (priority, then waiting longest), and only a snapshot rebuilds the list.
  const rows = new Map();
  const changed = new Set();
  let rebuild = true;

  function sortKey(i) {
    return [PRIORITY_ORDER[i.priority], Date.parse(i.received_at), i.id];
  }

  function before(a, b) {
    for (let n = 0; n < a.length; n += 1) if (a[n] !== b[n]) return a[n] < b[n];
    return false;
  }

  function fill(item, i) {
    item.className = "prio-" + i.priority + (state.alerts.has(i.id) ? " breach" : "");
    const badge = document.createElement("b");
    badge.textContent = i.priority;
    const label = document.createElement("span");
    label.textContent = "#" + i.id + " " + (i18n["category." + i.category] || i.category) +
      " · " + (i18n["state." + i.status] || i.status);
    const timer = document.createElement("time");
    timer.dataset.since = i.received_at;
    timer.textContent = waited(i.received_at);
    item.replaceChildren(badge, label, timer);
    if (state.alerts.has(i.id)) {
      const ring = document.createElement("em");
      ring.textContent = i18n["ring." + state.alerts.get(i.id)];
      item.append(ring);
    }
  }

  function newRow(i) {
    const item = document.createElement("li");
    item.dataset.incident = String(i.id);
    fill(item, i);
    rows.set(i.id, { item, key: sortKey(i) });
    return item;
  }

  function renderBoard() {
    if (rebuild) {
      rows.clear();
      const open = Array.from(state.incidents.values()).sort((a, b) =>
        (before(sortKey(a), sortKey(b)) ? -1 : 1));
      const fragment = document.createDocumentFragment();
      open.forEach((i) => fragment.append(newRow(i)));
      list.replaceChildren(fragment);
      rebuild = false;
    } else {
      changed.forEach((id) => {
        const incident = state.incidents.get(id);
        const row = rows.get(id);
        if (!incident) {
          if (row) { row.item.remove(); rows.delete(id); }
        } else if (row) {
          fill(row.item, incident);
        } else {
          const item = newRow(incident);
          const key = rows.get(id).key;
          let next = null;
          for (const other of list.children) {
            const otherRow = rows.get(Number(other.dataset.incident));
            if (otherRow && before(key, otherRow.key)) { next = other; break; }
          }
          list.insertBefore(item, next);
        }
      });
    }
    changed.clear();
    counter.textContent = String(state.incidents.size);
    alertCounter.textContent = String(state.alerts.size);
  }

  function redraw() {
    scheduled = false;
    const started = performance.now();
    lastRedraw = started;
    if (layersReady) {
      if (dirty.has("incidents")) map.getSource("incidents").setData(collection(state.incidents, incidentProps));
      if (dirty.has("units")) map.getSource("units").setData(collection(state.units, (u) => ({ id: u.id, status: u.status, call_sign: u.call_sign })));
      if (dirty.has("posts")) map.getSource("posts").setData(collection(state.posts, (p) => ({ id: p.id, name: p.name })));
      ["incidents", "units", "posts"].forEach((d) => dirty.delete(d));
    }
    if (dirty.has("board")) renderBoard();
    dirty.delete("board");
    el.dataset.liveIncidents = String(state.incidents.size);
    el.dataset.liveUnits = String(state.units.size);
    el.dataset.livePosts = String(state.posts.size);
    el.dataset.liveAlerts = String(state.alerts.size);
    el.dataset.liveEvents = String(received);
    if (stats.redrawMs.length >= 5000) stats.redrawMs.shift();
    stats.redrawMs.push(performance.now() - started);
  }

  function putIncident(i) {
    if (!stats.seenAt.has(i.id) && stats.seenAt.size < 10000) stats.seenAt.set(i.id, Date.now());
    changed.add(i.id);
    if (i.open) {
      state.incidents.set(i.id, i);
      if (i.on_scene_at) state.alerts.delete(i.id);
    } else {
      state.incidents.delete(i.id);
      state.alerts.delete(i.id);
    }
  }

  function connect() {
    const source = new EventSource("/api/v1/dispatch/stream");
    // Each event names what it changes: the map sources and whether the board must follow.
    const on = (name, changes, handle) => source.addEventListener(name, (e) => {
      handle(JSON.parse(e.data));
      received += 1;
      schedule(...changes);
    });
    on("snapshot", ["incidents", "units", "posts", "board"], (s) => {
      state.incidents.clear(); state.units.clear(); state.posts.clear(); state.alerts.clear();
      s.incidents.forEach(putIncident);
      s.units.forEach((u) => state.units.set(u.id, u));
      s.posts.forEach((p) => state.posts.set(p.id, p));
      s.alerts.forEach((a) => state.alerts.set(a.incident_id, a.ring));
      rebuild = true;
      el.dataset.live = "connected";
    });
    on("incident", ["incidents", "board"], putIncident);
    on("unit", ["units"], (u) => state.units.set(u.id, u));
    on("post", ["posts"], (p) => state.posts.set(p.id, p));
    on("alert", ["incidents", "board"], (a) => {
      if (state.incidents.has(a.incident_id)) state.alerts.set(a.incident_id, a.ring);
      changed.add(a.incident_id);
    });
    // The browser reconnects by itself; the stream then starts with a fresh snapshot.
    source.onerror = () => { el.dataset.live = "reconnecting"; };
  }

  function popup(lngLat, lines) {
    const box = document.createElement("div");
    lines.forEach((line, n) => {
      if (n) box.append(document.createElement("br"));
      const part = n ? document.createTextNode(line) : document.createElement("strong");
      if (!n) part.textContent = line;
      box.append(part);
    });
    new maplibregl.Popup().setLngLat(lngLat).setDOMContent(box).addTo(map);
  }

  // The units the recommender would send to an incident, each with its road route, drawn in
  // the colour of the ring it meets; only the latest click is drawn.
  let routeRequest = 0;
  async function showRoutes(i, lngLat, lines) {
    const ticket = ++routeRequest;
    const features = [];
    // A viewer may not ask for recommendations (403), and a scene may lie off the roads: the
    // popup then shows the incident alone.
    const answer = await fetch("/api/v1/incidents/" + i.id + "/recommendation?limit=3",
      { credentials: "same-origin" }).catch(() => null);
    if (answer && answer.ok) {
      const candidates = (await answer.json()).candidates;
      const routes = await Promise.all(candidates.map(async (c) => {
        const unit = state.units.get(c.unit_id);
        if (!unit || unit.lon == null) return null;
        const query = new URLSearchParams({ from_lon: unit.lon, from_lat: unit.lat,
          to_lon: i.lon, to_lat: i.lat });
        const route = await fetch("/api/v1/network/route?" + query, { credentials: "same-origin" })
          .catch(() => null);
        if (!route || !route.ok) return null;
        const feature = await route.json();
        Object.assign(feature.properties, { rank: c.rank, ring: c.ring, call_sign: c.call_sign });
        return feature;
      }));
      routes.forEach((f) => { if (f) features.push(f); });
      if (features.length) {
        lines.push(i18n.suggested_routes + ":");
        candidates.forEach((c) => lines.push(c.rank + ". " + c.call_sign + " "
          + (c.time_s / 60).toFixed(1) + " " + i18n.minutes));
      }
    }
    if (ticket !== routeRequest) return;  // a later click took over
    map.getSource("routes").setData({ type: "FeatureCollection", features });
    el.dataset.routes = String(features.length);
    popup(lngLat, lines);
  }

  function wire() {
    addLayers();
    map.on("click", "incidents", (e) => {
      const i = state.incidents.get(e.features[0].properties.id);
      if (!i) return;
      showRoutes(i, e.lngLat, [i.priority + " #" + i.id, i18n["category." + i.category] || i.category,
        i18n["state." + i.status] || i.status, i18n.waiting + " " + waited(i.received_at)]);
    });
    // A unit's or a post's rings: where it reaches in 1/3/5 minutes by road.
    ["units", "posts"].forEach((layer) => map.on("click", layer, (e) => {
      const item = state[layer].get(e.features[0].properties.id);
      if (!item) return;
      popup(e.lngLat, [item.call_sign || item.name, i18n[layer === "units" ? "state_unit." + item.status : "post"]]);
      if (window.fangkongShowRings) window.fangkongShowRings({ lng: item.lon, lat: item.lat });
    }));
    ["incidents", "units", "posts"].forEach((layer) => {
      map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
    });
    document.querySelectorAll("#layers input[data-live-layer]").forEach((box) => {
      box.addEventListener("change", () => map.setLayoutProperty(box.dataset.liveLayer,
        "visibility", box.checked ? "visible" : "none"));
    });
    list.addEventListener("click", (e) => {
      const item = e.target.closest("li[data-incident]");
      const incident = item && state.incidents.get(Number(item.dataset.incident));
      if (incident) map.easeTo({ center: [incident.lon, incident.lat], zoom: Math.max(map.getZoom(), 14) });
    });
    schedule("incidents", "units", "posts", "board");
  }

  el.addEventListener("fangkong:areas-drawn", wire, { once: true });
  connect();
  setInterval(() => {
    board.querySelectorAll("time[data-since]").forEach((cell) => {
      cell.textContent = waited(cell.dataset.since);
    });
  }, 1000);
})();
