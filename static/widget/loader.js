/* Handoff chat widget loader (docs/channels/webchat.md).
 *
 *   <script src="https://support.example.com/widget/INBOX_TOKEN.js" async></script>
 *
 * Adds a chat bubble and, above it, an iframe with the chat itself (served by Handoff, on
 * Handoff's origin). Everything lives in a closed shadow root and is styled through the CSSOM,
 * so the host page's stylesheets and its Content-Security-Policy for inline styles do not
 * touch it. The only global is window.HandoffWidget: open(), close(), toggle().
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src || window.HandoffWidget) return;
  var src = new URL(script.src, location.href);
  var match = src.pathname.match(/\/widget\/([^/]+)\.js$/);
  if (!match) return;
  var origin = src.origin;
  var frameUrl = origin + "/widget/" + match[1] + "/frame";

  var BRAND = "#4f46e5";
  var labels = { open: "Open chat", close: "Close chat", title: "Chat" };
  var isOpen = false;
  var unread = 0;
  var small = window.matchMedia("(max-width: 480px)");
  var calm = window.matchMedia("(prefers-reduced-motion: reduce)");
  var side = document.documentElement.dir === "rtl" ? "left" : "right";

  function css(element, styles) {
    Object.keys(styles).forEach(function (name) {
      element.style.setProperty(name, styles[name], "important");
    });
    return element;
  }

  function svg(paths, size) {
    var ns = "http://www.w3.org/2000/svg";
    var icon = document.createElementNS(ns, "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("width", size);
    icon.setAttribute("height", size);
    icon.setAttribute("aria-hidden", "true");
    paths.forEach(function (attrs) {
      var path = document.createElementNS(ns, "path");
      Object.keys(attrs).forEach(function (key) {
        path.setAttribute(key, attrs[key]);
      });
      icon.appendChild(path);
    });
    return icon;
  }

  var chatIcon = svg(
    [
      {
        fill: "currentColor",
        d: "M12 3C6.5 3 2 6.8 2 11.5c0 2.3 1.1 4.4 2.9 5.9L4 21l4.2-2.1c1.2.4 2.5.6 3.8.6 5.5 0 10-3.8 10-8.5S17.5 3 12 3Z",
      },
    ],
    28
  );
  var closeIcon = svg(
    [{ fill: "none", stroke: "currentColor", "stroke-width": "2.4", "stroke-linecap": "round", d: "M6 9l6 6 6-6" }],
    28
  );

  var host = css(document.createElement("div"), { all: "initial" });
  host.setAttribute("data-handoff-widget", "");
  var shell = host.attachShadow ? host.attachShadow({ mode: "closed" }) : host;

  var frame = document.createElement("iframe");
  frame.setAttribute("title", labels.title);
  frame.setAttribute("allow", "clipboard-write");
  css(frame, {
    position: "fixed",
    "z-index": "2147483000",
    border: "0",
    margin: "0",
    padding: "0",
    background: "#fff",
    "color-scheme": "light",
    opacity: "0",
    visibility: "hidden",
    "pointer-events": "none",
    transform: "translateY(16px) scale(0.98)",
    "transform-origin": "bottom " + side,
  });

  var bubble = document.createElement("button");
  bubble.type = "button";
  css(bubble, {
    position: "fixed",
    "z-index": "2147483001",
    bottom: "20px",
    width: "60px",
    height: "60px",
    margin: "0",
    padding: "0",
    border: "0",
    "border-radius": "50%",
    background: BRAND,
    color: "#fff",
    cursor: "pointer",
    display: "flex",
    "align-items": "center",
    "justify-content": "center",
    "box-shadow": "0 10px 30px rgba(79, 70, 229, .38), 0 2px 6px rgba(15, 23, 42, .18)",
    transition: calm.matches ? "none" : "transform .18s ease, box-shadow .18s ease",
    // No outline rule: the browser's own ring shows for keyboard focus only (:focus-visible).
  });
  bubble.style.setProperty(side, "20px", "important");
  bubble.appendChild(chatIcon);

  var badge = css(document.createElement("span"), {
    position: "absolute",
    top: "-2px",
    right: "-2px",
    "min-width": "20px",
    height: "20px",
    padding: "0 6px",
    "box-sizing": "border-box",
    "border-radius": "10px",
    background: "#ef4444",
    color: "#fff",
    font: "700 11px/20px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    "text-align": "center",
    "box-shadow": "0 0 0 2px #fff",
    display: "none",
  });
  badge.setAttribute("aria-hidden", "true");
  bubble.appendChild(badge);

  function place() {
    var common = { bottom: "92px", width: "380px", height: "min(640px, calc(100vh - 116px))" };
    if (small.matches) {
      common = { bottom: "0", width: "100%", height: "100%" };
      frame.style.setProperty("left", "0", "important");
      frame.style.setProperty("right", "0", "important");
    } else {
      frame.style.setProperty(side, "20px", "important");
    }
    css(frame, common);
    css(frame, {
      "border-radius": small.matches ? "0" : "18px",
      "box-shadow": small.matches ? "none" : "0 24px 60px rgba(15, 23, 42, .22), 0 4px 14px rgba(15, 23, 42, .12)",
    });
    // On a phone the open chat fills the screen and has its own close button.
    css(bubble, { display: small.matches && isOpen ? "none" : "flex" });
  }

  function render() {
    bubble.setAttribute("aria-label", isOpen ? labels.close : labels.open);
    bubble.setAttribute("aria-expanded", String(isOpen));
    bubble.replaceChild(isOpen ? closeIcon : chatIcon, bubble.firstChild);
    css(frame, {
      opacity: isOpen ? "1" : "0",
      visibility: isOpen ? "visible" : "hidden",
      "pointer-events": isOpen ? "auto" : "none",
      transform: isOpen ? "none" : "translateY(16px) scale(0.98)",
      // Hidden only once the fade-out ends; shown at once.
      transition: calm.matches
        ? "none"
        : "opacity .18s ease, transform .22s ease, visibility 0s linear " + (isOpen ? "0s" : ".22s"),
    });
    badge.textContent = unread > 9 ? "9+" : String(unread);
    css(badge, { display: unread && !isOpen ? "block" : "none" });
    place();
  }

  function tellFrame(type) {
    if (frame.contentWindow) frame.contentWindow.postMessage({ handoff: true, type: type }, origin);
  }

  function open() {
    if (!frame.src) frame.src = frameUrl;
    isOpen = true;
    unread = 0;
    render();
    tellFrame("opened");
  }

  function close(returnFocus) {
    isOpen = false;
    render();
    tellFrame("closed");
    // Closed from inside the chat (its button, Escape): keyboard users land on the bubble.
    if (returnFocus === true) bubble.focus();
  }

  bubble.addEventListener("click", function () {
    if (isOpen) close();
    else open();
  });
  bubble.addEventListener("pointerenter", function () {
    css(bubble, { transform: "scale(1.06)" });
  });
  bubble.addEventListener("pointerleave", function () {
    css(bubble, { transform: "none" });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen) close(true);
  });
  if (small.addEventListener) small.addEventListener("change", place);

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (!data || data.handoff !== true) return;
    if (data.type === "ready") {
      if (data.labels) {
        labels.open = String(data.labels.open || labels.open);
        labels.close = String(data.labels.close || labels.close);
        labels.title = String(data.labels.title || labels.title);
        frame.setAttribute("title", labels.title);
      }
      if (isOpen) tellFrame("opened");
      render();
    } else if (data.type === "close") {
      close(true);
    } else if (data.type === "unread") {
      unread = isOpen ? 0 : Math.max(0, Number(data.count) || 0);
      render();
    }
  });

  function mount() {
    shell.appendChild(frame);
    shell.appendChild(bubble);
    document.body.appendChild(host);
    render();
    // Load the chat when the page is idle, so a returning visitor hears of replies at once
    // without slowing the host page down.
    var load = function () {
      if (!frame.src) frame.src = frameUrl;
    };
    if (window.requestIdleCallback) window.requestIdleCallback(load, { timeout: 3000 });
    else setTimeout(load, 1500);
  }

  window.HandoffWidget = {
    open: open,
    close: function () {
      close(false);
    },
    toggle: function () {
      if (isOpen) close();
      else open();
    },
  };

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
