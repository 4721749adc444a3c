// Settings pages (docs/concepts/settings.md): copy an embed snippet, endpoint or secret.
// A button `data-copy="ID"` copies the text of the element with that id and says so.
(function () {
  "use strict";

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function announce(button, label, ok) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = label;
    button.classList.toggle("done", ok);
    clearTimeout(Number(button.dataset.timer || 0));
    button.dataset.timer = String(setTimeout(function () {
      button.textContent = button.dataset.label;
      button.classList.remove("done");
    }, 2000));
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    // The clipboard API exists only on secure pages (https, localhost); elsewhere the text
    // is selected so Ctrl+C copies it.
    var manual = function () { selectText(source); announce(button, button.dataset.manual, false); };
    if (!navigator.clipboard || !window.isSecureContext) { manual(); return; }
    navigator.clipboard.writeText(source.textContent).then(function () {
      announce(button, button.dataset.copied, true);
    }, manual);
  });
})();
