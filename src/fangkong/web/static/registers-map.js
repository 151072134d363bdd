// The registers' layers on the command map (issue 19): key facilities (green when they meet
// every rule, red when not), devices (by status) and hazardous-material holders and their
// sites, each for a user who may read it (the map's data-facilities, data-devices and
// data-materials say so). Drawn once the areas are, toggled by the layer panel's boxes
// (map.js turns a layer on and off by its id); a click on a point: its code, what it is,
// and a link to its record. Nothing here is inline in a page (the Content-Security-Policy).
(function () {
  "use strict";
  const el = document.getElementById("map");
  if (!el) return;
  const i18n = JSON.parse(document.getElementById("registers-i18n").textContent);
  const LAYERS = {
    facilities: {
      url: "/api/v1/facilities/geojson",
      paint: {
        "circle-radius": 6,
        "circle-color": ["case", ["get", "compliant"], "#2a9d8f", "#e63946"],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": 1.5,
      },
      label: (p) => i18n["facilities.type." + p.facility_type] + " · " +
        (p.compliant ? i18n["facilities.compliant"] : i18n["facilities.not_compliant"]),
      href: (p) => "/facilities/" + p.id,
      title: (p) => p.code + " " + p.name,
    },
    devices: {
      url: "/api/v1/devices/geojson",
      paint: {
        "circle-radius": 3.5,
        "circle-color": ["match", ["get", "status"], "working", "#1d3557", "fault", "#f4a261", "#9e9e9e"],
        "circle-stroke-color": ["case", ["get", "networked"], "#ffffff", "#e63946"],
        "circle-stroke-width": 1,
      },
      label: (p) => i18n["devices.type." + p.device_type] + " · " + i18n["devices.status." + p.status],
      href: (p) => "/devices/" + p.id,
      title: (p) => p.code,
    },
    materials: {
      url: "/api/v1/materials/geojson",
      paint: {
        "circle-radius": ["match", ["get", "layer"], "holder", 7, 5],
        "circle-color": ["match", ["get", "layer"], "holder", "#6a040f", "#ffba08"],
        "circle-stroke-color": "#000000",
        "circle-stroke-width": 1,
      },
      label: (p) => p.layer === "holder" ? i18n["materials.holder"] : i18n["materials.site"] + " · " + p.holder_code,
      href: (p) => "/materials/holders/" + (p.layer === "holder" ? p.id : p.holder_id),
      title: (p) => p.code + " " + p.name,
    },
    // The security posts of the approved large events under way now (issue 22).
    events: {
      url: "/api/v1/events/posts/geojson",
      paint: {
        "circle-radius": 6,
        "circle-color": ["match", ["get", "kind"], "entrance", "#2a9d8f", "command", "#e63946", "medical", "#f4a261", "#7b2cbf"],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": 2,
      },
      label: (p) => p.kind_label + " · " + p.staffing,
      href: (p) => "/events/" + p.id,
      title: (p) => p.code + " " + p.name,
    },
  };

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }

  async function draw(map, id) {
    const spec = LAYERS[id];
    const data = await getJSON(spec.url);
    map.addSource(id, { type: "geojson", data: data });
    map.addLayer({ id: id, type: "circle", source: id, paint: spec.paint });
    el.dataset[id + "Drawn"] = String(data.features.length);
    map.on("click", id, (e) => {
      const p = e.features[0].properties;
      const box = document.createElement("div");
      box.className = "register-popup";
      const title = document.createElement("strong");
      title.textContent = spec.title(p);
      const link = document.createElement("a");
      link.href = spec.href(p);
      link.textContent = i18n["map.open_record"];
      box.append(title, document.createElement("br"), spec.label(p), document.createElement("br"), link);
      new maplibregl.Popup().setLngLat(e.features[0].geometry.coordinates).setDOMContent(box).addTo(map);
    });
    map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
  }

  el.addEventListener("fangkong:areas-drawn", async () => {
    const map = window.fangkongMap;
    if (!map) return;
    for (const id of Object.keys(LAYERS)) {
      if (el.dataset[id] !== "1") continue;
      try {
        await draw(map, id);
      } catch (err) {
        el.dataset[id + "Drawn"] = "error";
      }
    }
    el.dataset.registersReady = "true";
  });
})();
