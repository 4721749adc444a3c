// Handoff agent UI: live updates over /ws, presence, keyboard shortcuts, @mention and /saved-reply menus.
// Frames are {seq, type, data, html?}; see docs/concepts/real-time.md.
(function () {
  "use strict";

  var lastSeq = 0;
  var socket = null;
  // Translated strings, rendered by the server into <body data-s-*>; English if absent.
  function s(key, english) { return document.body.dataset[key] || english; }
  var me = function () { var el = document.getElementById("me"); return el ? Number(el.dataset.agentId) : 0; };

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  // CSRF: every htmx request carries the token from the csrftoken cookie.
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["x-csrftoken"] = cookie("csrftoken");
  });

  // Reconnect where we left off: the server replays what we missed since lastSeq.
  htmx.createWebSocket = function (url) {
    return new WebSocket(lastSeq ? url + "?since=" + lastSeq : url);
  };

  function toast(text, kind) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var item = document.createElement("div");
    item.className = "toast " + (kind || "");
    item.textContent = text;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 6000);
  }

  function openConversationId() {
    var pane = document.querySelector(".thread-pane");
    return pane ? Number(pane.dataset.conversationId) : 0;
  }

  function send(msg) {
    if (socket) socket.send(JSON.stringify(msg));
  }

  function fragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  var refreshTimer = null;
  function refreshList() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      var list = document.getElementById("conversation-list");
      if (!list) return;
      var params = new URLSearchParams({ view: list.dataset.view || "all", status: list.dataset.status || "", q: list.dataset.q || "" });
      htmx.ajax("GET", "/inbox/list?" + params.toString(), { target: "#conversation-list", swap: "outerHTML" });
    }, 250);
  }

  function onMessage(frame) {
    var cid = frame.data.conversation_id;
    var thread = document.getElementById("thread-" + cid);
    if (!thread || !frame.html || !frame.html.message) return;
    var node = fragment(frame.html.message);
    var existing = document.getElementById(node.id);
    if (existing) existing.replaceWith(node); else thread.appendChild(node);
    htmx.process(node);
    if (!existing) thread.scrollTop = thread.scrollHeight;
  }

  function onConversation(frame) {
    var cid = frame.data.conversation_id;
    var row = document.getElementById("row-" + cid);
    var change = frame.data.change;
    var list = document.getElementById("conversation-list");
    var filtered = list && (list.dataset.q || list.dataset.view !== "all" || list.dataset.status);
    if (cid === openConversationId() && ["status", "team", "assignee", "priority", "reopened"].indexOf(change) >= 0) {
      // Someone changed the open conversation: bring its controls up to date.
      htmx.ajax("GET", "/conversations/" + cid + "/controls", { target: "#controls-" + cid, swap: "outerHTML" });
    }
    if (!row || filtered || ["status", "team", "assignee", "reopened"].indexOf(change) >= 0) {
      refreshList();
      return;
    }
    var node = fragment(frame.html.row);
    if (change === "message" && cid !== openConversationId()) node.classList.add("unread");
    else if (row.classList.contains("unread") && cid !== openConversationId()) node.classList.add("unread");
    if (cid === openConversationId()) node.classList.add("active");
    row.remove();
    var rows = document.getElementById("rows");
    rows.insertBefore(node, rows.firstChild);
    htmx.process(node);
  }

  function onNotification(frame) {
    var badge = document.getElementById("bell-count");
    if (badge) {
      badge.textContent = String(Number(badge.textContent || "0") + 1);
      badge.classList.remove("hidden");
    }
    toast(frame.data.text, "notify");
  }

  function onPresence(frame) {
    var box = document.getElementById("presence-" + frame.data.conversation_id);
    if (!box) return;
    var others = frame.data.viewers.filter(function (v) { return v.agent_id !== me(); });
    box.textContent = others.length ? others.map(function (v) { return v.name; }).join(", ") + " " + (others.length > 1 ? s("sViewingMany", "are viewing") : s("sViewingOne", "is viewing")) : "";
    box.classList.toggle("collision", others.length > 0);
  }

  var typingTimers = {};
  function onTyping(frame) {
    if (frame.data.agent_id === me()) return;
    var box = document.getElementById("typing-" + frame.data.conversation_id);
    if (!box) return;
    box.textContent = frame.data.name + " " + (frame.data.box === "note" ? s("sTypingNote", "is writing a note…") : s("sTypingReply", "is typing a reply…"));
    clearTimeout(typingTimers[frame.data.conversation_id]);
    typingTimers[frame.data.conversation_id] = setTimeout(function () { box.textContent = ""; }, 4000);
  }

  function resync() {
    refreshList();
    var cid = openConversationId();
    if (cid) htmx.ajax("GET", "/conversations/" + cid, { target: "#conversation", swap: "innerHTML" });
  }

  var handlers = {
    "message.created": onMessage,
    "conversation.created": onConversation,
    "conversation.updated": onConversation,
    "notification.created": onNotification,
    "presence": onPresence,
    "typing": onTyping,
    "resync": resync
  };

  document.addEventListener("htmx:wsOpen", function (e) {
    socket = e.detail.socketWrapper;
    var cid = openConversationId();
    if (cid) send({ type: "viewing", conversation_id: cid });
  });
  document.addEventListener("htmx:wsClose", function () { socket = null; });

  document.addEventListener("htmx:wsBeforeMessage", function (e) {
    e.preventDefault(); // frames are JSON, handled here rather than swapped as HTML
    var frame;
    try { frame = JSON.parse(e.detail.message); } catch (err) { return; }
    if (frame.type === "hello") { if (!lastSeq) lastSeq = frame.seq; return; }
    if (frame.seq > lastSeq) lastSeq = frame.seq;
    var handle = handlers[frame.type];
    if (handle) handle(frame);
    document.dispatchEvent(new CustomEvent("handoff:event", { detail: frame }));
  });

  // A conversation was opened: tell the others, mark it active, focus the composer tab.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "conversation") {
      var cid = openConversationId();
      send({ type: "viewing", conversation_id: cid || null });
      document.querySelectorAll(".row.active").forEach(function (r) { r.classList.remove("active"); });
      var row = document.getElementById("row-" + cid);
      if (row) { row.classList.add("active"); row.classList.remove("unread"); }
      var thread = document.querySelector(".thread");
      if (thread) thread.scrollTop = thread.scrollHeight;
    }
  });

  // A sent reply or note comes back in the answer, but the live frames may have brought it
  // first, and newer (already "sent"): then the answer's copy is dropped, its out-of-band
  // parts (version, controls) still swapped.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var form = e.detail.requestConfig && e.detail.requestConfig.elt;
    if (!form || !form.classList || !form.classList.contains("composer-form")) return;
    var tpl = document.createElement("template");
    tpl.innerHTML = e.detail.serverResponse || "";
    var msg = tpl.content.querySelector("li.msg[id^='msg-']");
    if (msg && document.getElementById(msg.id)) {
      msg.remove();
      e.detail.serverResponse = tpl.innerHTML;
    }
  });

  // A reply or note went through: clear the box and any collision warning.
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (!e.detail.successful || !form || form.tagName !== "FORM") return;
    if (e.detail.xhr && e.detail.xhr.status === 409) return;
    if (form.classList.contains("composer-form")) clearComposer(form);
    if (form.closest("#composer-alert")) { document.getElementById("composer-alert").innerHTML = ""; var f = document.getElementById("reply-form"); if (f) clearComposer(f); }
  });

  function clearComposer(form) {
    form.reset();
    form.querySelectorAll("input[data-forced]").forEach(function (i) { i.remove(); });
    form.querySelectorAll(".chosen-files").forEach(function (l) { l.textContent = ""; });
    if (form.id === "reply-form") { var alert = document.getElementById("composer-alert"); if (alert) alert.innerHTML = ""; }
  }

  function humanSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(0) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  // The files chosen for a reply, listed by name before sending.
  document.addEventListener("change", function (e) {
    if (!e.target.matches || !e.target.matches("input[data-attach]")) return;
    var list = e.target.closest("form").querySelector(".chosen-files");
    if (!list) return;
    list.textContent = "";
    Array.prototype.forEach.call(e.target.files, function (file) {
      var li = document.createElement("li");
      li.textContent = "📎 " + file.name + " (" + humanSize(file.size) + ")";
      list.appendChild(li);
    });
  });

  // Files make the text optional, so the box checks that something is there at all.
  document.addEventListener("htmx:confirm", function (e) {
    var form = e.detail.elt;
    if (!form || !form.classList || !form.classList.contains("composer-form")) return;
    var picker = form.querySelector("input[data-attach]");
    var text = form.querySelector("textarea").value.trim();
    if (!text && !(picker && picker.files.length)) {
      e.preventDefault();
      toast(s(form.id === "note-form" ? "sEmptyNote" : "sEmptyReply", "Write something or attach a file"), "error");
    }
  });

  document.addEventListener("htmx:responseError", function (e) {
    var text = e.detail.xhr.responseText || s("sFailed", "Request failed");
    var doc = new DOMParser().parseFromString(text, "text/html");
    toast((doc.body.textContent || text).trim().slice(0, 300), "error");
  });

  document.addEventListener("htmx:sendError", function () { toast(s("sOffline", "Connection lost. Retrying…"), "error"); });

  // Typing indicator, throttled.
  var lastTyping = 0;
  document.addEventListener("input", function (e) {
    var form = e.target.closest && e.target.closest(".composer-form");
    if (!form) return;
    var now = Date.now();
    if (now - lastTyping > 2000) {
      lastTyping = now;
      send({ type: "typing", conversation_id: openConversationId(), box: form.dataset.box });
    }
  });

  function showTab(name) {
    document.querySelectorAll(".composer .tab").forEach(function (t) { t.classList.toggle("active", t.dataset.tab === name); });
    document.querySelectorAll(".composer-form").forEach(function (f) { f.classList.toggle("hidden", f.dataset.box !== name); });
    var area = document.querySelector('.composer-form[data-box="' + name + '"] textarea');
    if (area) area.focus();
  }

  document.addEventListener("click", function (e) {
    var tab = e.target.closest(".composer .tab");
    if (tab) { showTab(tab.dataset.tab); return; }
    if (e.target.closest("[data-dismiss]")) { e.target.closest(".alert").remove(); return; }
    if (e.target.closest("[data-send-anyway]")) {
      // The reply box still holds the text and the files: send it again, past the check.
      var reply = document.getElementById("reply-form");
      var force = document.createElement("input");
      force.type = "hidden"; force.name = "force"; force.value = "1"; force.dataset.forced = "";
      reply.appendChild(force);
      htmx.trigger(reply, "submit");
      return;
    }
    var bell = e.target.closest("#bell");
    var dropdown = document.getElementById("notifications");
    if (!bell && dropdown && !e.target.closest("#notifications")) dropdown.classList.add("hidden");
  });

  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.detail.target && e.detail.target.id === "notifications") {
      var d = document.getElementById("notifications");
      if (d) d.classList.remove("hidden");
    }
  });

  function moveSelection(step) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("#rows .row"));
    if (!rows.length) return;
    var current = rows.findIndex(function (r) { return Number(r.dataset.id) === openConversationId(); });
    var next = rows[Math.max(0, Math.min(rows.length - 1, current + step))];
    if (current < 0) next = rows[0];
    var link = next.querySelector("a");
    if (link) link.click();
  }

  // Keyboard: j/k next and previous conversation, r reply, n note, Esc leaves a text box.
  document.addEventListener("keydown", function (e) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName);
    if (e.key === "Escape" && typing) { e.target.blur(); return; }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j") { moveSelection(1); e.preventDefault(); }
    else if (e.key === "k") { moveSelection(-1); e.preventDefault(); }
    else if (e.key === "r" && openConversationId()) { showTab("reply"); e.preventDefault(); }
    else if (e.key === "n" && openConversationId()) { showTab("note"); e.preventDefault(); }
  });

  // Menus under a text box: @mentions in the note box, saved replies (/shortcut) in the reply
  // box. Both open on typing, share the keys (arrows, Enter/Tab, Escape) and the mouse.
  var MENU_BOXES = "textarea[data-mentions], textarea[data-saved-replies]";
  function menuOf(area) { return area.parentElement.querySelector(".mention-menu"); }

  function fillMenu(menu, options, describe) {
    menu.innerHTML = "";
    options.forEach(function (o, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      describe(li, o);
      if (i === 0) li.classList.add("selected");
      menu.appendChild(li);
    });
    menu.classList.toggle("hidden", options.length === 0);
  }

  var menuRequest = 0;
  function ask(url, menu, describe) {
    var ticket = ++menuRequest;
    fetch(url, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (options) {
        if (ticket === menuRequest) fillMenu(menu, options, describe);
      });
  }

  document.addEventListener("input", function (e) {
    var area = e.target;
    if (!area.matches || !area.matches(MENU_BOXES)) return;
    var menu = menuOf(area);
    var before = area.value.slice(0, area.selectionStart);
    var m;
    if (area.dataset.savedReplies) {
      // "/" at the start of the box or after a space, then letters: "/ref" looks for refund-policy.
      m = before.match(/(^|\s)\/([\p{L}\p{N}-]+)$/u);
      if (!m) { menu.classList.add("hidden"); return; }
      ask(area.dataset.savedReplies + "?q=" + encodeURIComponent(m[2]), menu, function (li, o) {
        li.dataset.text = o.text;
        li.textContent = "/" + o.shortcut + " — " + o.title;
      });
      return;
    }
    m = before.match(/(^|\s)@([\p{L}\p{N}_.-]*)$/u);
    if (!m) { menu.classList.add("hidden"); return; }
    ask("/mentionables?q=" + encodeURIComponent(m[2]), menu, function (li, o) {
      li.dataset.handle = o.handle;
      li.textContent = "@" + o.handle + " — " + o.name + (o.kind === "team" ? " (" + s("sTeam", "team") + ")" : "");
    });
  });

  // The typed "@dan" or "/ref" before the caret becomes the choice.
  function insertChoice(area, li) {
    var pos = area.selectionStart;
    var before = area.value.slice(0, pos);
    // A function, so a "$&" in the text (or a customer's name) is not read as a pattern.
    if (area.dataset.savedReplies) before = before.replace(/\/[\p{L}\p{N}-]*$/u, function () { return li.dataset.text; });
    else before = before.replace(/@([\p{L}\p{N}_.-]*)$/u, "@" + li.dataset.handle + " ");
    area.value = before + area.value.slice(pos);
    area.selectionStart = area.selectionEnd = before.length;
    menuOf(area).classList.add("hidden");
    area.focus();
  }

  document.addEventListener("mousedown", function (e) {
    var li = e.target.closest && e.target.closest(".mention-menu li");
    if (!li) return;
    e.preventDefault();
    insertChoice(li.closest("form").querySelector("textarea"), li);
  });

  document.addEventListener("keydown", function (e) {
    var area = e.target;
    if (!area.matches || !area.matches(MENU_BOXES)) return;
    var menu = menuOf(area);
    if (menu.classList.contains("hidden")) return;
    var items = Array.prototype.slice.call(menu.children);
    var i = items.findIndex(function (li) { return li.classList.contains("selected"); });
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (i >= 0) items[i].classList.remove("selected");
      i = (i + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      items[i].classList.add("selected");
    } else if ((e.key === "Enter" || e.key === "Tab") && i >= 0) {
      e.preventDefault();
      insertChoice(area, items[i]);
    } else if (e.key === "Escape") {
      menu.classList.add("hidden");
    }
  });

  // Ctrl/Cmd+Enter sends from any composer.
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.closest && e.target.closest(".composer-form")) {
      e.preventDefault();
      htmx.trigger(e.target.closest("form"), "submit");
    }
  });
})();
