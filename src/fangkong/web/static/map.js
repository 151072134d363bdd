// The command map: roads and the jurisdiction tree drawn from fangkong's own API; no remote tiles.
(function () {
  "use strict";
  const el = document.getElementById("map");
  if (!el || typeof maplibregl === "undefined") return;
  const i18n = JSON.parse(document.getElementById("map-i18n").textContent);
  const status = document.getElementById("map-status");
  // Drawn from the finest level up, so that coarser boundaries lie on top.
  const LEVEL_STYLE = {
    grid: { color: "#7aa95c", width: 0.8 },
    beat: { color: "#e07b00", width: 1.4 },
    station: { color: "#0b4f8a", width: 2.4 },
    district: { color: "#6a3d9a", width: 3.2 },
    city: { color: "#1d2733", width: 3.6 },
  };

  const map = new maplibregl.Map({
    container: el,
    style: { version: 8, sources: {}, layers: [
      { id: "background", type: "background", paint: { "background-color": "#eef1f4" } }] },
    center: [105, 35],  // until the areas load and the map fits them
    zoom: 3,
    // The road data's attribution, in the reader's language (the page gives it).
    attributionControl: { customAttribution: el.dataset.attribution || "© OpenStreetMap" },
  });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
  window.fangkongMap = map;

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) {
      // The API names the fault (e.g. a point too far from every road): show that.
      const body = await response.json().catch(() => ({}));
      throw new Error(body.text || body.message || url + ": HTTP " + response.status);
    }
    return response.json();
  }

  function extend(bounds, geometry) {
    const walk = (c) => (typeof c[0] === "number" ? bounds.extend(c) : c.forEach(walk));
    walk(geometry.coordinates);
  }

  map.on("load", async () => {
    try {
      const [roads, me, ...levels] = await Promise.all([
        getJSON("/api/v1/map/roads"),
        getJSON("/api/v1/users/me"),
        ...Object.keys(LEVEL_STYLE).map((lv) => getJSON("/api/v1/areas/geojson?level=" + lv)),
      ]);
      map.addSource("roads", { type: "geojson", data: roads });
      map.addLayer({ id: "roads", type: "line", source: "roads", paint: {
        "line-color": ["match", ["get", "class"], ["motorway", "trunk", "primary"], "#c9a227",
          ["secondary", "tertiary"], "#b0b7c0", "#ccd2d9"],
        "line-width": ["match", ["get", "class"], ["motorway", "trunk", "primary"], 2.2,
          ["secondary", "tertiary"], 1.4, 0.7] } });
      const bounds = new maplibregl.LngLatBounds();
      const scopeCodes = new Set(me.area_codes);
      const scopeFeatures = [];
      let drawn = 0;
      Object.keys(LEVEL_STYLE).forEach((level, i) => {
        const data = levels[i];
        drawn += data.features.length;
        data.features.forEach((f) => {
          extend(bounds, f.geometry);
          if (scopeCodes.has(f.properties.code)) scopeFeatures.push(f);
        });
        map.addSource(level, { type: "geojson", data });
        map.addLayer({ id: level + "-fill", type: "fill", source: level,
          paint: { "fill-color": LEVEL_STYLE[level].color, "fill-opacity": 0.04 },
          layout: { visibility: level === "grid" ? "none" : "visible" } });
        map.addLayer({ id: level, type: "line", source: level,
          paint: { "line-color": LEVEL_STYLE[level].color, "line-width": LEVEL_STYLE[level].width },
          layout: { visibility: level === "grid" ? "none" : "visible" } });
      });
      map.addSource("scope", { type: "geojson", data: { type: "FeatureCollection", features: scopeFeatures } });
      map.addLayer({ id: "scope-fill", type: "fill", source: "scope", paint: { "fill-color": "#d62828", "fill-opacity": 0.08 } });
      map.addLayer({ id: "scope", type: "line", source: "scope", paint: { "line-color": "#d62828", "line-width": 3.5, "line-dasharray": [2, 1] } });
      if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 30, duration: 0 });
      el.dataset.areas = String(drawn);
      el.dataset.scope = scopeFeatures.map((f) => f.properties.code).join(",");
      status.textContent = "";
      if (el.dataset.cases === "1") await drawCases();
      // Layers of other scripts (the live dispatch layer) go on top of the areas.
      el.dispatchEvent(new CustomEvent("fangkong:areas-drawn"));
      // Ready once the new layers are drawn, not merely added.
      map.once("idle", () => { el.dataset.ready = "true"; });
    } catch (err) {
      status.textContent = String(err);
      status.classList.add("error");
    }
  });

  // The open hazards and disputes of the user's areas that have a point (the case list's
  // scope); a click on one: its number, type and state, and a link to it.
  const CASE_COLORS = { hazard: "#b5179e", dispute: "#3a86ff" };
  async function drawCases() {
    const cases = await getJSON("/api/v1/cases/map");
    map.addSource("cases", { type: "geojson", data: cases });
    map.addLayer({ id: "cases", type: "circle", source: "cases", paint: {
      "circle-radius": 6,
      "circle-color": ["match", ["get", "type"], "hazard", CASE_COLORS.hazard, CASE_COLORS.dispute],
      "circle-stroke-color": ["case", ["get", "overdue"], "#d62828", "#ffffff"],
      "circle-stroke-width": 2 } });
    el.dataset.cases = String(cases.features.length);
    map.on("click", "cases", (e) => {
      const p = e.features[0].properties;
      const box = document.createElement("div");
      box.className = "case-popup";
      const title = document.createElement("strong");
      title.textContent = p.number;
      const link = document.createElement("a");
      link.href = "/cases/" + p.id;
      link.textContent = i18n["map.case_open"];
      box.append(title, document.createElement("br"), p.type_label + " · " + p.state_label,
        document.createElement("br"), link);
      new maplibregl.Popup().setLngLat(e.features[0].geometry.coordinates).setDOMContent(box).addTo(map);
    });
    map.on("mouseenter", "cases", () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", "cases", () => { map.getCanvas().style.cursor = ""; });
  }

  // One popup for a click: the finest visible area under the pointer and, for those who
  // record incidents, a link to the intake form at that point. Shown a moment later, so
  // that a double click (the rings) shows none.
  const DEPTH = ["city", "district", "station", "beat", "grid"];
  let pendingPopup = null;
  map.on("click", (e) => {
    // A click on a live marker (incident, unit, post) or a case is its layer's, not an area's.
    const live = ["incidents", "units", "posts", "cases", "facilities", "devices", "materials", "events"]
      .filter((id) => map.getLayer(id));
    if (live.length && map.queryRenderedFeatures(e.point, { layers: live }).length) return;
    const layers = DEPTH.map((lv) => lv + "-fill").filter((id) => map.getLayer(id) &&
      map.getLayoutProperty(id, "visibility") !== "none");
    const hits = map.queryRenderedFeatures(e.point, { layers });
    const intake = el.dataset.intake === "1";
    if (!hits.length && !intake) return;
    const box = document.createElement("div");
    if (hits.length) {
      hits.sort((a, b) => DEPTH.indexOf(b.properties.level) - DEPTH.indexOf(a.properties.level));
      const p = hits[0].properties;
      const title = document.createElement("strong");
      title.textContent = el.dataset.lang === "en" ? p.name_en : p.name_zh;
      const lines = [i18n["level." + p.level], i18n["map.code"] + ": " + p.code,
        i18n["map.area_km2"] + ": " + p.area_km2];
      box.append(title, ...lines.flatMap((line) => [document.createElement("br"), line]));
    }
    if (intake) {
      const link = document.createElement("a");
      link.className = "intake-here";
      link.href = "/incidents?lon=" + e.lngLat.lng.toFixed(6) + "&lat=" + e.lngLat.lat.toFixed(6) + "#intake";
      link.textContent = i18n["map.intake_here"];
      const line = document.createElement("p");
      line.append(link);
      box.append(line);
    }
    clearTimeout(pendingPopup);
    pendingPopup = setTimeout(() => {
      new maplibregl.Popup().setLngLat(e.lngLat).setDOMContent(box).addTo(map);
    }, 250);
  });

  // Click on the map (not on a popup): the 1/3/5-minute rings of that point, by road.
  const RING_COLORS = { 60: "#1a9850", 180: "#fdae61", 300: "#d73027" };
  map.on("contextmenu", (e) => showRings(e.lngLat));
  map.on("dblclick", (e) => { e.preventDefault(); clearTimeout(pendingPopup); showRings(e.lngLat); });
  window.fangkongShowRings = showRings;
  async function showRings(lngLat) {
    const url = "/api/v1/network/isochrone?lon=" + lngLat.lng + "&lat=" + lngLat.lat +
      "&thresholds=60,180,300";
    try {
      status.textContent = i18n["map.rings_loading"];
      const rings = await getJSON(url);
      rings.features.sort((a, b) => b.properties.threshold_s - a.properties.threshold_s);
      if (map.getSource("rings")) {
        map.getSource("rings").setData(rings);
      } else {
        map.addSource("rings", { type: "geojson", data: rings });
        map.addLayer({ id: "rings", type: "fill", source: "rings", paint: {
          "fill-color": ["match", ["get", "threshold_s"], 60, RING_COLORS[60], 180, RING_COLORS[180], RING_COLORS[300]],
          "fill-opacity": 0.35 } });
        map.addLayer({ id: "rings-outline", type: "line", source: "rings", paint: {
          "line-color": ["match", ["get", "threshold_s"], 60, RING_COLORS[60], 180, RING_COLORS[180], RING_COLORS[300]],
          "line-width": 1.5 } });
      }
      el.dataset.rings = rings.features.map((f) => f.properties.threshold_s).join(",");
      status.textContent = i18n["map.rings_hint"];
    } catch (err) {
      status.textContent = err.message;
    }
  }

  document.querySelectorAll("#layers input[data-layer]").forEach((box) => {
    box.addEventListener("change", () => {
      const layer = box.dataset.layer;
      const visibility = box.checked ? "visible" : "none";
      [layer, layer + "-fill"].forEach((id) => { if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", visibility); });
    });
  });
})();
