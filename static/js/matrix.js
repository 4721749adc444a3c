// The printable escalation matrix (docs/concepts/escalation-policy.md): the Print button.
// A file rather than an onclick attribute: the CSP allows no inline script.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-print]")) window.print();
  });
})();
