// The new-case form's place (/cases/new): a small map of the user's areas; a click (or the
// phone's position) puts the case's point there, fills lon/lat and chooses the deepest area
// of the point that the form offers. A file of its own: the CSP refuses inline script.
(function () {
  "use strict";
  const el = document.getElementById("case-map");
  const lonInput = document.getElementById("case-lon");
  const latInput = document.getElementById("case-lat");
  const status = document.getElementById("case-place-status");
  if (!el || !lonInput || !latInput || typeof maplibregl === "undefined") return;
  const areaSelect = document.querySelector("#new-case select[name=area_code]");

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
  window.fangkongCaseMap = map;
  let marker = null;

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }

  function showMarker(lng, lat) {
    if (!marker) marker = new maplibregl.Marker({ color: "#d62828" }).setLngLat([lng, lat]).addTo(map);
    else marker.setLngLat([lng, lat]);
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

  map.on("load", async () => {
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
      const bounds = new maplibregl.LngLatBounds();
      const walk = (c) => (typeof c[0] === "number" ? bounds.extend(c) : c.forEach(walk));
      [...beats.features, ...grids.features].forEach((f) => walk(f.geometry.coordinates));
      if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 20, duration: 0 });
    } catch (err) {
      status.textContent = String(err);
    }
    const lng = parseFloat(lonInput.value);
    const lat = parseFloat(latInput.value);
    if (Number.isFinite(lng) && Number.isFinite(lat)) showMarker(lng, lat);
    map.once("idle", () => { el.dataset.ready = "true"; });
  });
  map.on("click", (e) => place(e.lngLat.lng, e.lngLat.lat));

  // On a phone at the place: the browser's position (WGS-84, as the API takes it).
  const locate = document.getElementById("case-locate");
  if (locate) {
    if (!navigator.geolocation) locate.hidden = true;
    locate.addEventListener("click", () => {
      navigator.geolocation.getCurrentPosition(
        (pos) => {
          place(pos.coords.longitude, pos.coords.latitude);
          map.flyTo({ center: [pos.coords.longitude, pos.coords.latitude], zoom: Math.max(map.getZoom(), 15) });
        },
        () => { status.textContent = el.dataset.failed; },
        { enableHighAccuracy: true, timeout: 15000 },
      );
    });
  }
  const clear = document.getElementById("case-clear-place");
  if (clear) {
    clear.addEventListener("click", () => {
      lonInput.value = "";
      latInput.value = "";
      if (marker) { marker.remove(); marker = null; }
      delete el.dataset.picked;
    });
  }
})();
