// The incident board (/incidents): pushed changes (the live stream) refresh its rows at most
// once a second, and the waiting timers tick in the browser. A file of its own: the CSP
// refuses inline script.
(function () {
  "use strict";
  let pending = null;
  const source = new EventSource("/api/v1/dispatch/stream");
  ["incident", "alert"].forEach((name) => {
    source.addEventListener(name, () => {
      if (pending) return;
      pending = setTimeout(() => {
        pending = null;
        document.body.dispatchEvent(new CustomEvent("incidents-changed"));
      }, 1000);
    });
  });
  // Waiting timers: seconds since each incident was received.
  setInterval(() => {
    document.querySelectorAll("[data-since]").forEach((cell) => {
      const s = Math.max(0, Math.floor((Date.now() - Date.parse(cell.dataset.since)) / 1000));
      cell.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
    });
  }, 1000);
})();
