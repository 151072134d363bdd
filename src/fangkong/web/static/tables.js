// What the console's tables and printable pages need of a script (no inline script or on*
// attribute in any page): a print button ([data-print]), and folded sections (<details>)
// opened while the page prints, so that a printed report is whole, then folded back.
(function () {
  "use strict";
  var opened = [];
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-print]") : null;
    if (button) {
      event.preventDefault();
      window.print();
    }
  });
  window.addEventListener("beforeprint", function () {
    opened = [];
    document.querySelectorAll("details:not([open])").forEach(function (details) {
      details.open = true;
      opened.push(details);
    });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (details) { details.open = false; });
    opened = [];
  });
})();
