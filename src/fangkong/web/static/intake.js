// The intake form's address field (/incidents): what is typed (a code, a street, its pinyin
// or initials) is looked up in the standard addresses of the user's areas; picking a
// suggestion fills the address code and the point. A file of its own: the CSP refuses
// inline script.
(function () {
  "use strict";
  const input = document.getElementById("address-search");
  const list = document.getElementById("address-suggestions");
  const form = document.getElementById("intake-form");
  if (!input || !list || !form) return;
  const field = (name) => form.querySelector("[name=" + name + "]");
  const english = input.dataset.lang === "en";
  let timer = null;
  let asked = 0;

  function close() {
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute("aria-expanded", "false");
  }

  function use(code, text, lon, lat) {
    field("address_code").value = code;
    input.value = text;
    if (lon !== undefined && lat !== undefined) {
      field("lon").value = lon;
      field("lat").value = lat;
    }
    close();
    input.dataset.picked = code;
  }

  function show(items) {
    list.replaceChildren();
    if (!items.length) {
      const none = document.createElement("li");
      none.className = "hint";
      none.textContent = input.dataset.empty;
      list.append(none);
    }
    items.forEach((a) => {
      const item = document.createElement("li");
      const pick = document.createElement("button");
      pick.type = "button";
      pick.setAttribute("role", "option");
      pick.dataset.code = a.code;
      const text = english ? a.text_en : a.text_zh;
      pick.textContent = text + " · " + a.code;
      pick.addEventListener("click", () => use(a.code, text, String(a.lon), String(a.lat)));
      item.append(pick);
      list.append(item);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  async function suggest() {
    const q = input.value.trim();
    if (!q) { close(); return; }
    const mine = ++asked;
    const url = "/api/v1/addresses/search?limit=10&q=" + encodeURIComponent(q);
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok || mine !== asked) return;
      show(await response.json());
    } catch (err) {
      close();
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(suggest, 200);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") close();
    if (e.key === "ArrowDown") {
      const first = list.querySelector("button");
      if (first) { e.preventDefault(); first.focus(); }
    }
  });
  // Enter in the address field picks the first suggestion rather than submitting the form.
  input.addEventListener("keypress", (e) => {
    if (e.key !== "Enter") return;
    const first = list.querySelector("button");
    e.preventDefault();
    if (first) first.click();
  });
  document.querySelectorAll("[data-use-address]").forEach((button) => {
    button.addEventListener("click", () => use(button.dataset.useAddress, button.dataset.addressText));
  });
  // Opened from a click on the command map: the form in view, the address field ready.
  if (document.getElementById("map-point")) {
    form.scrollIntoView({ block: "start" });
    input.focus();
  }
})();
