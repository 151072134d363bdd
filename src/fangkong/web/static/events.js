// Large-event security on a small map (issue 22). The application form (data-mode="draw"):
// each click adds a corner of the venue to its textarea ("lon lat; ..."), drawn as a polygon.
// An application's page (data-mode="post" or "view"): the venue, the security plan's posts
// coloured by kind and, once checked, each venue point coloured by its ring; a click (a tap
// at phone width) puts the next post's point into the post form. A file of its own: the
// Content-Security-Policy refuses inline script.
(function () {
  "use strict";
  const el = document.getElementById("event-map");
  if (!el || typeof maplibregl === "undefined") return;
  const mode = el.dataset.mode || "view";
  const dataEl = document.getElementById("event-map-data");
  const data = dataEl ? JSON.parse(dataEl.textContent) : { venue: null, point: null, posts: [], rings: [] };
  const corners = document.getElementById("venue-corners");
  const KIND_COLORS = { post: "#1d3557", entrance: "#2a9d8f", command: "#e63946", medical: "#f4a261" };
  const RING_COLORS = { "1min": "#1a9850", "3min": "#fdae61", "5min": "#d73027", beyond: "#6c757d" };

  const map = new maplibregl.Map({
    container: el,
    style: { version: 8, sources: {}, layers: [
      { id: "background", type: "background", paint: { "background-color": "#eef1f4" } }] },
    center: data.point || [105, 35],
    zoom: data.point ? 14 : 3,
    doubleClickZoom: false,
    attributionControl: { customAttribution: el.dataset.attribution || "© OpenStreetMap" },
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  window.fangkongEventMap = map;

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }

  function cornersOf(text) {
    return text.split(";").map((part) => part.trim().split(/\s+/).map(Number))
      .filter((p) => p.length === 2 && p.every(Number.isFinite));
  }

  function venueFeature() {
    const ring = corners ? cornersOf(corners.value) : (data.venue || []);
    if (ring.length < 3) return { type: "FeatureCollection", features: [] };
    return { type: "FeatureCollection", features: [{ type: "Feature", properties: {},
      geometry: { type: "Polygon", coordinates: [[...ring, ring[0]]] } }] };
  }

  function points(list, props) {
    return { type: "FeatureCollection", features: list.map((p) => ({ type: "Feature",
      properties: props(p), geometry: { type: "Point", coordinates: [p.lon, p.lat] } })) };
  }

  function redrawVenue() {
    const source = map.getSource("venue");
    if (source) source.setData(venueFeature());
    el.dataset.corners = String(corners ? cornersOf(corners.value).length : (data.venue || []).length);
  }

  map.on("load", async () => {
    try {
      const roads = await getJSON("/api/v1/map/roads");
      map.addSource("roads", { type: "geojson", data: roads });
      map.addLayer({ id: "roads", type: "line", source: "roads", paint: { "line-color": "#b0b7c0", "line-width": 1 } });
    } catch (err) {
      // No road network imported: the venue and posts are still drawn.
    }
    map.addSource("venue", { type: "geojson", data: venueFeature() });
    map.addLayer({ id: "venue", type: "fill", source: "venue", paint: { "fill-color": "#457b9d", "fill-opacity": 0.25 } });
    map.addLayer({ id: "venue-line", type: "line", source: "venue", paint: { "line-color": "#1d3557", "line-width": 2 } });
    map.addSource("rings", { type: "geojson", data: points(data.rings || [], (p) => ({ ring: p.ring })) });
    map.addLayer({ id: "rings", type: "circle", source: "rings", paint: {
      "circle-radius": 5, "circle-color": ["match", ["get", "ring"], "1min", RING_COLORS["1min"],
        "3min", RING_COLORS["3min"], "5min", RING_COLORS["5min"], RING_COLORS.beyond] } });
    map.addSource("posts", { type: "geojson", data: points(data.posts || [], (p) => ({ name: p.name, kind: p.kind })) });
    map.addLayer({ id: "posts", type: "circle", source: "posts", paint: {
      "circle-radius": 7, "circle-stroke-color": "#ffffff", "circle-stroke-width": 2,
      "circle-color": ["match", ["get", "kind"], "entrance", KIND_COLORS.entrance, "command",
        KIND_COLORS.command, "medical", KIND_COLORS.medical, KIND_COLORS.post] } });
    if (data.point) {
      const bounds = new maplibregl.LngLatBounds(data.point, data.point);
      (data.venue || []).forEach((c) => bounds.extend(c));
      (data.posts || []).forEach((p) => bounds.extend([p.lon, p.lat]));
      map.fitBounds(bounds, { padding: 40, maxZoom: 16, duration: 0 });
    } else {
      try {
        const areas = await getJSON("/api/v1/areas/geojson?level=beat");
        const bounds = new maplibregl.LngLatBounds();
        const walk = (c) => (typeof c[0] === "number" ? bounds.extend(c) : c.forEach(walk));
        areas.features.forEach((f) => walk(f.geometry.coordinates));
        if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 20, duration: 0 });
      } catch (err) {
        // The form still takes corners typed by hand.
      }
    }
    redrawVenue();
    el.dataset.ready = "true";
  });

  map.on("click", (e) => {
    const lng = e.lngLat.lng.toFixed(6);
    const lat = e.lngLat.lat.toFixed(6);
    if (mode === "draw" && corners) {
      corners.value = (corners.value.trim() ? corners.value.trim().replace(/;$/, "") + "; " : "") + lng + " " + lat;
      redrawVenue();
    } else if (mode === "post") {
      const lonInput = document.getElementById("post-lon");
      const latInput = document.getElementById("post-lat");
      if (lonInput && latInput) {
        lonInput.value = lng;
        latInput.value = lat;
        el.dataset.picked = lng + "," + lat;
      }
    }
  });

  const clear = document.getElementById("venue-clear");
  if (clear && corners) clear.addEventListener("click", () => { corners.value = ""; redrawVenue(); });
  if (corners) corners.addEventListener("input", redrawVenue);
})();
