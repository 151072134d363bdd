// What every console page shares (loaded by base.html; no inline script, see the CSP):
// the navigation (a menu button at phone width, a "more" menu for what does not fit on one
// line), folding panels, confirmation of actions that cannot be undone, the loading state and
// place of htmx panels, the session's expiry warning, and times in the page's language and zone.
(function () {
  "use strict";
  const PHONE = window.matchMedia("(max-width: 760px)");
  const root = document.documentElement;

  // --- times: the page's language and the configured zone, never the browser's ------------
  const zone = root.dataset.zone || "Asia/Shanghai";
  const lang = root.lang || "zh-CN";
  function formatTime(date, withSeconds) {
    const options = { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withSeconds) options.second = "2-digit";
    return new Intl.DateTimeFormat(lang, options).format(date);
  }
  function formatDuration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  window.fangkong = Object.assign(window.fangkong || {}, { formatTime, formatDuration, zone, lang });

  // --- navigation ---------------------------------------------------------------------------
  const topbar = document.querySelector(".topbar");
  const toggle = document.querySelector(".nav-toggle");
  const nav = document.getElementById("main-nav");
  if (toggle && topbar && nav) {
    toggle.addEventListener("click", () => {
      const open = !topbar.classList.contains("nav-open");
      topbar.classList.toggle("nav-open", open);
      toggle.setAttribute("aria-expanded", String(open));
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && topbar.classList.contains("nav-open")) {
        topbar.classList.remove("nav-open");
        toggle.setAttribute("aria-expanded", "false");
        toggle.focus();
      }
    });
  }
  const links = nav && nav.querySelector(".nav-links");
  const more = nav && nav.querySelector(".nav-more");
  const menu = more && more.querySelector(".nav-more-menu");
  // At desktop width the entries stay on one line: those that do not fit go, last first, into
  // the "more" menu (the current page's entry stays in the bar while another can go).
  function fitNavigation() {
    if (!links || !more || !menu) return;
    menu.querySelectorAll("a").forEach((a) => links.appendChild(a));
    more.hidden = true;
    more.open = false;
    if (PHONE.matches) return;
    if (links.scrollWidth <= links.clientWidth + 1) return;
    more.hidden = false;
    while (links.scrollWidth > links.clientWidth + 1 && links.children.length > 1) {
      const entries = Array.from(links.children);
      const last = entries.reverse().find((a) => !a.hasAttribute("aria-current")) || entries[0];
      menu.insertBefore(last, menu.firstChild);
    }
  }
  if (links) {
    fitNavigation();
    let pending = null;
    window.addEventListener("resize", () => {
      if (pending) cancelAnimationFrame(pending);
      pending = requestAnimationFrame(fitNavigation);
    });
    PHONE.addEventListener("change", fitNavigation);
    if (document.fonts && document.fonts.ready) document.fonts.ready.then(fitNavigation);
    document.addEventListener("click", (e) => {
      if (more && more.open && !more.contains(e.target)) more.open = false;
    });
  }

  // --- panels folded at phone width (the map's layers) ---------------------------------------
  document.querySelectorAll("details[data-fold-on-phone]").forEach((panel) => {
    if (PHONE.matches) panel.open = false;
  });

  // --- a control with data-submit-on-change sends its form when it changes (no inline handler:
  // the CSP refuses them) ------------------------------------------------------------------------
  document.addEventListener("change", (e) => {
    const control = e.target.closest("[data-submit-on-change]");
    if (control && control.form) control.form.requestSubmit();
  });

  // --- confirmation: a button with data-confirm asks before its form is sent -----------------
  const dialog = document.getElementById("confirm-dialog");
  document.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-confirm]");
    if (!button || !dialog || button.dataset.confirmed === "1") return;
    e.preventDefault();
    dialog.querySelector("#confirm-title").textContent = button.dataset.confirmTitle || button.textContent;
    dialog.querySelector("#confirm-text").textContent = button.dataset.confirm;
    dialog.querySelector("#confirm-yes").textContent = button.dataset.confirmYes || button.textContent;
    dialog.returnValue = "";
    dialog.addEventListener("close", function answered() {
      dialog.removeEventListener("close", answered);
      if (dialog.returnValue !== "ok") { button.focus(); return; }
      const form = button.form;
      if (!form) return;
      button.dataset.confirmed = "1";
      try {
        form.requestSubmit(button);
      } finally {
        delete button.dataset.confirmed;
      }
    });
    dialog.showModal();
    dialog.querySelector("#confirm-no").focus();
  });

  // --- htmx panels: a loading state while asked, then shown and focused when they arrive ----
  document.addEventListener("htmx:beforeRequest", (e) => {
    const target = e.detail.target;
    // Only for a request from outside the panel: one of its own forms (the dispatch of the
    // ticked units) must stay in place until its answer comes.
    if (target && target.dataset && target.dataset.loading && !target.contains(e.detail.elt)) {
      target.setAttribute("aria-busy", "true");
      const note = document.createElement("p");
      note.className = "loading";
      note.setAttribute("role", "status");
      note.textContent = target.dataset.loading;
      target.replaceChildren(note);
      target.scrollIntoView({ block: "nearest" });
    }
  });
  document.addEventListener("htmx:afterSwap", (e) => {
    const target = e.detail.target;
    if (!target || !target.dataset || target.dataset.loading === undefined) return;
    target.removeAttribute("aria-busy");
    target.scrollIntoView({ block: "nearest" });
    const heading = target.querySelector("h2, h3");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  });

  // An incident's page after a dispatch from its recommendation (the answer triggers
  // incidents-changed): read again, so that its status, units and moves are the new ones.
  if (document.getElementById("incident-facts")) {
    document.body.addEventListener("incidents-changed", () => {
      setTimeout(() => window.location.reload(), 600);
    });
  }

  // --- the session's end: a warning a few minutes before, and a button to stay signed in ------
  const warning = document.getElementById("session-warning");
  if (warning) {
    const warnS = Number(warning.dataset.warnS);
    const idleS = Number(warning.dataset.idleS);
    let idleEnd = Date.now() + Number(warning.dataset.idleLeftS) * 1000;
    let end = Date.now() + Number(warning.dataset.leftS) * 1000;
    const text = warning.querySelector("#session-warning-text");
    const stay = warning.querySelector("#session-stay");
    const again = warning.querySelector("#session-login");
    let timer = null;
    let ticker = null;
    const csrf = () => {
      try {
        return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
      } catch (err) {
        return "";
      }
    };
    const ended = () => { window.location.href = again.getAttribute("href"); };
    function apply(state) {
      idleEnd = Date.now() + state.idle_left_s * 1000;
      end = Date.now() + state.left_s * 1000;
    }
    function schedule() {
      clearTimeout(timer);
      const first = Math.min(idleEnd, end);
      timer = setTimeout(check, Math.max(0, first - warnS * 1000 - Date.now()));
    }
    async function ask(method) {
      const headers = { Accept: "application/json", "X-Fangkong-Background": "1" };
      if (method === "POST") {
        delete headers["X-Fangkong-Background"];  // staying signed in is the user's request
        headers["X-CSRF-Token"] = csrf();
      }
      const answer = await fetch(method === "POST" ? "/session/refresh" : "/session",
        { method, credentials: "same-origin", headers, redirect: "manual" });
      if (!answer.ok || !(answer.headers.get("content-type") || "").includes("json")) return null;
      return answer.json();
    }
    function render() {
      const idle = idleEnd <= end;
      const at = idle ? idleEnd : end;
      const left = (at - Date.now()) / 1000;
      if (left <= 0) {
        clearInterval(ticker);
        ask("GET").then((state) => (state ? (apply(state), hide()) : ended()), ended);
        return;
      }
      const template = idle ? warning.dataset.textIdle : warning.dataset.textAbsolute;
      text.textContent = template.replace("{left}", formatDuration(left))
        .replace("{time}", formatTime(new Date(at)));
      stay.hidden = !idle;
      again.hidden = idle;
      warning.dataset.reason = idle ? "idle" : "absolute";
    }
    function show() {
      render();
      if (!warning.open) warning.showModal();
      clearInterval(ticker);
      ticker = setInterval(render, 1000);
    }
    function hide() {
      clearInterval(ticker);
      if (warning.open) warning.close();
      schedule();
    }
    async function check() {
      let state = null;
      try {
        state = await ask("GET");
      } catch (err) {
        state = null;
      }
      if (state === null) { show(); return; }
      apply(state);
      // Another tab may have kept the session alive meanwhile: warn only when it is due.
      if (Math.min(idleEnd, end) - Date.now() > warnS * 1000 + 1000) { hide(); return; }
      show();
    }
    stay.addEventListener("click", async () => {
      stay.disabled = true;
      try {
        const state = await ask("POST");
        if (state === null) { ended(); return; }
        apply(state);
        hide();
      } finally {
        stay.disabled = false;
      }
    });
    warning.addEventListener("cancel", (e) => e.preventDefault());
    // Requests of the user's own (not the boards' background refreshes) keep the session.
    document.addEventListener("htmx:afterRequest", (e) => {
      const config = e.detail.requestConfig || {};
      const headers = config.headers || {};
      if (e.detail.successful && !headers["X-Fangkong-Background"]) {
        idleEnd = Date.now() + idleS * 1000;
        if (!warning.open) schedule();
      }
    });
    schedule();
  }
})();
