// SLA countdowns in the conversation list (docs/concepts/sla.md#in-the-list). The server
// renders <span class="sla" data-due data-warn> with the target's name; this ticks it every
// second: amber from the warning moment (the policy's warn_at share of the target), red once due.
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function duration(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + pad(m) + "m";
    return m + "m " + pad(s % 60) + "s";
  }

  // Python writes microseconds; Date.parse is only sure of milliseconds.
  function instant(iso) { return iso ? Date.parse(iso.replace(/(\.\d{3})\d+/, "$1")) : NaN; }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".sla[data-due]").forEach(function (el) {
      var due = instant(el.dataset.due), warn = instant(el.dataset.warn);
      if (isNaN(due)) return;
      if (!el.dataset.label) el.dataset.label = el.textContent.trim();
      var left = due - now;
      var overdue = left <= 0 ? " " + (el.dataset.sOverdue || "overdue") : "";
      el.textContent = el.dataset.label + overdue + " " + duration(left);
      el.classList.toggle("sla-breached", left <= 0);
      el.classList.toggle("sla-warn", left > 0 && !isNaN(warn) && now >= warn);
    });
  }

  document.addEventListener("DOMContentLoaded", tick);
  setInterval(tick, 1000);
})();
