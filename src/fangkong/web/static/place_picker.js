// The place picker of the console's forms (templates/_place.html): a small map of the user's
// areas on the console's own layers (roads, beats, grids; no remote tiles). A click or tap puts
// the record's point there and fills the form's longitude and latitude; a value typed in either
// field moves the marker; an edit form opens centred on the record's point. Optional pieces,
// each found inside the picker's fieldset: an area <select> the point's deepest offered area is
// chosen in (data-area-select), a "use my position" button and a "clear" button.
// A file of its own: the CSP refuses inline script.
(function () {
  "use strict";
  if (typeof maplibregl === "undefined") return;

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }

  // A typed coordinate: a finite number within the range of a longitude or latitude, else null.
  function coordinate(input, limit) {
    const text = input.value.trim();
    if (text === "") return null;
    const value = Number(text);
    return Number.isFinite(value) && Math.abs(value) <= limit ? value : null;
  }

  function setUp(el) {
    const box = el.closest("[data-place-picker]") || el.parentElement;
    const form = el.closest("form");
    const lonInput = form.querySelector("input[name='" + (el.dataset.lon || "lon") + "']");
    const latInput = form.querySelector("input[name='" + (el.dataset.lat || "lat") + "']");
    if (!lonInput || !latInput) return;
    const status = box.querySelector("[data-place-status]");
    const areaSelect = el.dataset.areaSelect ? form.querySelector(el.dataset.areaSelect) : null;

    const map = new maplibregl.Map({
      container: el,
      style: { version: 8, sources: {}, layers: [
        { id: "background", type: "background", paint: { "background-color": "#eef1f4" } }] },
      center: [105, 35],
      zoom: 3,
      doubleClickZoom: false,
      // The road data's attribution, in the reader's language (the page gives it).
      attributionControl: { customAttribution: el.dataset.attribution || "© OpenStreetMap" },
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    el.fangkongMap = map;
    window.fangkongPlaceMaps = window.fangkongPlaceMaps || {};
    if (el.id) window.fangkongPlaceMaps[el.id] = map;
    if (el.dataset.handle) window[el.dataset.handle] = map;
    let marker = null;

    function showMarker(lng, lat) {
      if (!marker) marker = new maplibregl.Marker({ color: "#d62828" }).setLngLat([lng, lat]).addTo(map);
      else marker.setLngLat([lng, lat]);
      el.dataset.marker = lng.toFixed(6) + "," + lat.toFixed(6);
    }

    function hideMarker() {
      if (marker) { marker.remove(); marker = null; }
      delete el.dataset.marker;
    }

    async function chooseArea(lng, lat) {
      if (!areaSelect) return;
      try {
        const found = await getJSON("/api/v1/areas/locate?lon=" + lng + "&lat=" + lat);
        const offered = new Set(Array.from(areaSelect.options).map((o) => o.value));
        const deepest = found.areas.map((a) => a.code).reverse().find((code) => offered.has(code));
        if (deepest) areaSelect.value = deepest;
      } catch (err) {
        // Outside the user's areas: the server says so when the form is sent.
      }
    }

    function place(lng, lat) {
      lonInput.value = lng.toFixed(6);
      latInput.value = lat.toFixed(6);
      showMarker(lng, lat);
      el.dataset.picked = lonInput.value + "," + latInput.value;
      chooseArea(lng, lat);
    }

    // The point typed in the two fields, or null while either is empty or not a coordinate.
    function typed() {
      const lng = coordinate(lonInput, 180);
      const lat = coordinate(latInput, 90);
      return lng === null || lat === null ? null : [lng, lat];
    }

    function followTyped() {
      const point = typed();
      if (!point) return;
      showMarker(point[0], point[1]);
      if (!map.getBounds().contains(point)) map.easeTo({ center: point, duration: 0 });
    }
    lonInput.addEventListener("input", followTyped);
    latInput.addEventListener("input", followTyped);

    map.on("load", async () => {
      const start = typed();
      try {
        const [roads, beats, grids] = await Promise.all([
          getJSON("/api/v1/map/roads"),
          getJSON("/api/v1/areas/geojson?level=beat"),
          getJSON("/api/v1/areas/geojson?level=grid"),
        ]);
        map.addSource("roads", { type: "geojson", data: roads });
        map.addLayer({ id: "roads", type: "line", source: "roads", paint: { "line-color": "#b0b7c0", "line-width": 1 } });
        map.addSource("grids", { type: "geojson", data: grids });
        map.addLayer({ id: "grids", type: "line", source: "grids", paint: { "line-color": "#7aa95c", "line-width": 0.8 } });
        map.addSource("beats", { type: "geojson", data: beats });
        map.addLayer({ id: "beats", type: "line", source: "beats", paint: { "line-color": "#e07b00", "line-width": 1.6 } });
        if (!start) {
          const bounds = new maplibregl.LngLatBounds();
          const walk = (c) => (typeof c[0] === "number" ? bounds.extend(c) : c.forEach(walk));
          [...beats.features, ...grids.features].forEach((f) => walk(f.geometry.coordinates));
          if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 20, duration: 0 });
        }
      } catch (err) {
        if (status) status.textContent = String(err);
      }
      // A record being edited (or a form sent back with a fault): its point, centred.
      if (start) {
        showMarker(start[0], start[1]);
        map.jumpTo({ center: start, zoom: Number(el.dataset.zoom || 15) });
      }
      map.once("idle", () => { el.dataset.ready = "true"; });
    });
    map.on("click", (e) => place(e.lngLat.lng, e.lngLat.lat));

    // On a phone at the place: the browser's position (WGS-84, as the API takes it).
    const locate = box.querySelector("[data-place-locate]");
    if (locate) {
      if (!navigator.geolocation) locate.hidden = true;
      locate.addEventListener("click", () => {
        navigator.geolocation.getCurrentPosition(
          (pos) => {
            place(pos.coords.longitude, pos.coords.latitude);
            map.flyTo({ center: [pos.coords.longitude, pos.coords.latitude], zoom: Math.max(map.getZoom(), 15) });
          },
          () => { if (status) status.textContent = el.dataset.failed || ""; },
          { enableHighAccuracy: true, timeout: 15000 },
        );
      });
    }
    const clear = box.querySelector("[data-place-clear]");
    if (clear) {
      clear.addEventListener("click", () => {
        lonInput.value = "";
        latInput.value = "";
        hideMarker();
        delete el.dataset.picked;
      });
    }
  }

  document.querySelectorAll("[data-place-map]").forEach(setUp);
})();
