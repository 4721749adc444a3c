/* The chat widget's frame (docs/channels/webchat.md).
 *
 * Keeps the signed visitor token in localStorage, shows the pre-chat form or the thread, and
 * follows replies over /widget/ws, reconnecting with ?since= after a drop. Customer text is
 * only ever set with textContent. Nothing about the conversation is posted to the host page:
 * it only learns "open", "close" and how many replies are unread.
 *
 * After each resolution it shows a rating row (1 to 5 stars and an optional comment) and
 * posts the answer to /widget/{token}/csat (docs/concepts/csat.md).
 *
 * Files listed with a message are fetched from /widget/{token}/attachments/{id} with the
 * visitor header (a plain link could not send it) and saved through a blob: URL.
 *
 * The customer's own files (the 📎 button) are checked against the server's limits before
 * anything is uploaded, listed until sent, then posted with the text as multipart.
 */
(function () {
  "use strict";

  var root = document.getElementById("widget");
  if (!root) return;
  var token = root.dataset.token;
  var strings = {
    open: root.dataset.sOpen,
    close: root.dataset.sClose,
    title: root.dataset.sTitle,
    error: root.dataset.sError,
    offline: root.dataset.sOffline,
    expired: root.dataset.sExpired,
    sending: root.dataset.sSending,
  };
  var storeKey = "handoff.visitor." + token;
  var list = document.getElementById("messages");
  var scroller = document.getElementById("scroll");
  var prechat = document.getElementById("prechat");
  var prechatError = document.getElementById("prechat-error");
  var composer = document.getElementById("composer");
  var input = composer.elements.namedItem("content");
  var attach = document.getElementById("attach");
  var prechatAttach = document.getElementById("prechat-attach");
  var picker = document.getElementById("attach-input");
  var chosenList = document.getElementById("chosen");
  var limits = {
    files: Number(chosenList.dataset.maxFiles),
    file: Number(chosenList.dataset.maxFile),
    upload: Number(chosenList.dataset.maxUpload),
  };
  var chosen = [];
  var notice = document.getElementById("notice");
  var csat = document.getElementById("csat");
  var csatStars = Array.prototype.slice.call(csat.querySelectorAll(".star"));
  var csatMore = csat.querySelector(".csat-more");
  var csatComment = csat.elements.namedItem("comment");
  var csatError = document.getElementById("csat-error");
  var csatThanks = document.getElementById("csat-thanks");
  var csatRating = 0;
  var embedded = window.parent !== window;
  var timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    hour: "numeric",
    minute: "2-digit",
  });

  var visitor = readToken();
  var shown = new Set();
  var lastSeq = 0;
  var socket = null;
  var retries = 0;
  var reconnectTimer = null;
  var isOpen = !embedded;
  var unread = 0;

  function readToken() {
    try {
      return window.localStorage.getItem(storeKey);
    } catch (e) {
      return null; // storage blocked: the chat lasts as long as the page
    }
  }

  function saveToken(value) {
    visitor = value;
    try {
      if (value) window.localStorage.setItem(storeKey, value);
      else window.localStorage.removeItem(storeKey);
    } catch (e) {
      /* storage blocked */
    }
  }

  function tell(message) {
    if (embedded) window.parent.postMessage(Object.assign({ handoff: true }, message), "*");
  }

  // A FormData body goes as it is: the browser writes the multipart boundary into its own
  // Content-Type.
  function api(method, path, body) {
    var form = body instanceof FormData;
    var headers = { accept: "application/json" };
    if (body && !form) headers["content-type"] = "application/json";
    if (visitor) headers["x-visitor-token"] = visitor;
    return fetch("/widget/" + encodeURIComponent(token) + "/" + path, {
      method: method,
      headers: headers,
      body: form ? body : body ? JSON.stringify(body) : undefined,
      credentials: "omit",
      cache: "no-store",
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          return { status: response.status, data: data };
        });
    });
  }

  function showNotice(text) {
    notice.textContent = text || "";
    notice.hidden = !text;
  }

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function scrollDown() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  function append(message) {
    if (!message || shown.has(message.id)) return false;
    if (message.kind !== "incoming" && message.kind !== "outgoing") return false;
    shown.add(message.id);
    var stick = nearBottom();
    var previous = list.lastElementChild;
    var item = document.createElement("li");
    item.className = "msg " + message.kind + (message.automatic ? " automatic" : "");
    item.dataset.author = message.author;
    if (message.kind === "outgoing" && (!previous || previous.dataset.author !== message.author)) {
      var author = document.createElement("span");
      author.className = "author";
      author.textContent = message.author;
      item.appendChild(author);
    }
    var files = message.attachments || [];
    // A reply may be files alone: no empty bubble above them.
    if (message.content || !files.length) {
      var bubble = document.createElement("p");
      bubble.className = "bubble";
      bubble.dir = "auto"; // an Arabic message in an English chat still reads right to left
      if (message.csat) linkSurvey(bubble, message.content);
      else bubble.textContent = message.content;
      item.appendChild(bubble);
    }
    files.forEach(function (file) {
      item.appendChild(fileButton(file));
    });
    var when = new Date(message.created_at);
    if (!isNaN(when.getTime())) {
      var time = document.createElement("time");
      time.dateTime = message.created_at;
      time.textContent = timeFormat.format(when);
      item.appendChild(time);
    }
    list.appendChild(item);
    if (message.csat) askRating();
    if (message.kind === "incoming") hideRating();
    if (stick || message.kind === "incoming") scrollDown();
    return true;
  }

  /* Files in a message: one button each, which downloads it. */

  function fileButton(file) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "file";
    button.dir = "auto";
    button.textContent = "📎 " + file.filename + " (" + humanSize(file.size) + ")";
    button.addEventListener("click", function () {
      download(file, button);
    });
    return button;
  }

  // Units named by the browser in the page's language, so no catalog string is needed.
  function humanSize(bytes) {
    var lang = document.documentElement.lang || undefined;
    var unit = bytes < 1024 ? "byte" : bytes < 1048576 ? "kilobyte" : "megabyte";
    var value = bytes < 1024 ? bytes : bytes < 1048576 ? bytes / 1024 : bytes / 1048576;
    var digits = unit === "megabyte" ? 1 : 0;
    try {
      return new Intl.NumberFormat(lang, {
        style: "unit",
        unit: unit,
        maximumFractionDigits: digits,
      }).format(value);
    } catch (e) {
      return value.toFixed(digits) + " " + { byte: "B", kilobyte: "KB", megabyte: "MB" }[unit];
    }
  }

  function download(file, button) {
    if (button.disabled) return;
    button.disabled = true;
    fetch("/widget/" + encodeURIComponent(token) + "/attachments/" + Number(file.id), {
      headers: { "x-visitor-token": visitor || "" },
      credentials: "omit",
      cache: "no-store",
    })
      .then(function (response) {
        if (response.ok) {
          return response.blob().then(function (blob) {
            save(blob, file.filename);
            showNotice("");
          });
        }
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            if (response.status === 401) {
              forget();
              showNotice(data.error || strings.expired);
            } else {
              showNotice(data.error || strings.error);
            }
          });
      })
      .catch(function () {
        showNotice(strings.error);
      })
      .finally(function () {
        button.disabled = false;
      });
  }

  function save(blob, filename) {
    var url = URL.createObjectURL(blob);
    var link = document.createElement("a");
    link.href = url;
    link.download = filename || "attachment";
    document.body.appendChild(link);
    link.click();
    link.remove();
    // The download has begun by now; the delay only spares a slow browser a revoked URL.
    setTimeout(function () {
      URL.revokeObjectURL(url);
    }, 60000);
  }

  /* The customer's files: picked, checked, listed with a × each, sent with the next message. */

  function named(text, name) {
    return text.replace("{name}", name);
  }

  function chosenBytes() {
    return chosen.reduce(function (sum, file) {
      return sum + file.size;
    }, 0);
  }

  // The same limits the server checks (inbox/attachments.py), told before a long upload.
  function problemWith(file) {
    var texts = chosenList.dataset;
    if (chosen.length >= limits.files) return texts.sTooMany;
    if (!file.size) return named(texts.sEmpty, file.name);
    if (file.size > limits.file) return named(texts.sTooLarge, file.name);
    if (chosenBytes() + file.size > limits.upload) return texts.sTogether;
    return "";
  }

  function choose(files) {
    var problem = "";
    Array.prototype.forEach.call(files, function (file) {
      var found = problemWith(file);
      if (found) problem = problem || found;
      else chosen.push(file);
    });
    showNotice(problem);
    listChosen();
  }

  function listChosen() {
    chosenList.textContent = "";
    chosen.forEach(function (file, index) {
      var item = document.createElement("li");
      var label = document.createElement("span");
      label.dir = "auto";
      label.textContent = "📎 " + file.name + " (" + humanSize(file.size) + ")";
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.textContent = "×";
      remove.setAttribute("aria-label", named(chosenList.dataset.sRemove, file.name));
      remove.title = remove.getAttribute("aria-label");
      remove.addEventListener("click", function () {
        chosen.splice(index, 1);
        listChosen();
        (chosen.length ? chosenList.querySelector(".remove") : attachButton()).focus();
      });
      item.appendChild(label);
      item.appendChild(remove);
      chosenList.appendChild(item);
    });
    chosenList.hidden = !chosen.length;
  }

  function clearChosen() {
    chosen = [];
    listChosen();
  }

  // The 📎 in view: the pre-chat form's before the chat starts, the composer's after.
  function attachButton() {
    return composer.hidden ? prechatAttach : attach;
  }

  // Text alone stays JSON, as before files existed; with files, multipart.
  function messageBody(fields) {
    if (!chosen.length) return fields;
    var body = new FormData();
    Object.keys(fields).forEach(function (name) {
      body.append(name, fields[name]);
    });
    chosen.forEach(function (file) {
      body.append("files", file, file.name);
    });
    return body;
  }

  [attach, prechatAttach].forEach(function (button) {
    button.addEventListener("click", function () {
      picker.click();
    });
  });

  picker.addEventListener("change", function () {
    choose(picker.files);
    picker.value = ""; // so picking the same file again, after removing it, still counts
  });

  /* The rating row after a resolution. */

  // The rating question carries the survey's link: make it one, for customers who prefer
  // the page. Text nodes only; the href is only ever a survey path on this origin.
  function linkSurvey(bubble, content) {
    var found = /(https?:\/\/\S+)?\/csat\/[A-Za-z0-9_-]+/.exec(content);
    if (!found) {
      bubble.textContent = content;
      return;
    }
    var path = found[0].slice((found[1] || "").length);
    var link = document.createElement("a");
    link.href = path;
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = found[0];
    bubble.appendChild(document.createTextNode(content.slice(0, found.index)));
    bubble.appendChild(link);
    bubble.appendChild(document.createTextNode(content.slice(found.index + found[0].length)));
  }

  function showStars(rating) {
    csatStars.forEach(function (star) {
      var value = Number(star.dataset.rating);
      star.classList.toggle("on", value <= rating);
      star.setAttribute("aria-checked", value === rating ? "true" : "false");
    });
  }

  function askRating() {
    csatRating = 0;
    showStars(0);
    csatStars.forEach(function (star) {
      star.disabled = false;
    });
    csatComment.value = "";
    csatMore.hidden = true;
    csatError.hidden = true;
    csatThanks.hidden = true;
    csat.hidden = false;
    scrollDown();
  }

  function hideRating() {
    csat.hidden = true;
  }

  function thank() {
    csat.hidden = true;
    csatThanks.textContent = csat.dataset.sThanks;
    csatThanks.hidden = false;
    scrollDown();
  }

  function showCsat(state) {
    // On load: ask only when the latest resolution's survey is open and still unanswered.
    if (state && state.open && state.rating === null) askRating();
    else hideRating();
  }

  csatStars.forEach(function (star) {
    star.addEventListener("click", function () {
      csatRating = Number(star.dataset.rating);
      showStars(csatRating);
      csatMore.hidden = false;
      csatComment.focus();
    });
  });

  csat.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!csatRating || csat.dataset.busy) return;
    csat.dataset.busy = "1";
    var button = csat.querySelector("button[type=submit]");
    button.disabled = true;
    csatError.hidden = true;
    api("POST", "csat", { rating: csatRating, comment: csatComment.value })
      .then(function (result) {
        if (result.status === 200) {
          thank();
        } else if (result.status === 401) {
          forget();
          showNotice(result.data.error || strings.expired);
        } else {
          csatError.textContent = result.data.error || strings.error;
          csatError.hidden = false;
          if (result.status === 404 || result.status === 409) csatStars.forEach(disable);
        }
      })
      .catch(function () {
        csatError.textContent = strings.error;
        csatError.hidden = false;
      })
      .finally(function () {
        delete csat.dataset.busy;
        button.disabled = false;
      });
  });

  function disable(star) {
    star.disabled = true;
  }

  // The list of picked files sits by the 📎 that picked them: in the form, or over the box.
  function showPrechat() {
    composer.hidden = true;
    prechat.hidden = false;
    prechat.insertBefore(chosenList, prechatAttach.parentNode);
  }

  function showChat(messages) {
    prechat.hidden = true;
    composer.hidden = false;
    composer.parentNode.insertBefore(chosenList, composer);
    (messages || []).forEach(append);
    scrollDown();
  }

  function forget() {
    saveToken(null);
    clearChosen();
    closeSocket();
    showPrechat();
  }

  function refresh() {
    return api("GET", "messages").then(function (result) {
      if (result.status === 200) {
        if (result.data.visitor_token) saveToken(result.data.visitor_token);
        showChat(result.data.messages);
        showCsat(result.data.csat);
        return true;
      }
      if (result.status === 401) forget();
      else showNotice(strings.error);
      return false;
    });
  }

  /* The websocket: live replies, resumed with ?since= after a drop. */

  function closeSocket() {
    clearTimeout(reconnectTimer);
    if (socket) {
      socket.onclose = null;
      socket.close();
      socket = null;
    }
  }

  function connect() {
    closeSocket();
    if (!visitor) return;
    var url =
      (location.protocol === "https:" ? "wss://" : "ws://") +
      location.host +
      "/widget/ws?token=" +
      encodeURIComponent(token) +
      "&visitor=" +
      encodeURIComponent(visitor) +
      (lastSeq ? "&since=" + lastSeq : "");
    // A fresh connection may have missed replies written since the thread was fetched;
    // once subscribed ("hello"), fetch it again. A resumed one gets them replayed instead.
    var resumed = lastSeq > 0;
    var ws = new WebSocket(url);
    socket = ws;
    ws.onopen = function () {
      retries = 0;
      showNotice("");
    };
    ws.onmessage = function (event) {
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (typeof frame.seq === "number" && frame.seq > lastSeq) lastSeq = frame.seq;
      if (frame.type === "hello" && !resumed) {
        refresh();
      } else if (frame.type === "message") {
        if (append(frame.data) && frame.data.kind === "outgoing") noteReply();
      } else if (frame.type === "resync") {
        refresh();
      }
    };
    ws.onclose = function (event) {
      socket = null;
      if (event.code === 1008) {
        // The token was refused: ask the API why (an expired token means a new chat).
        refresh().then(function (ok) {
          if (ok) later();
        });
        return;
      }
      showNotice(strings.offline);
      later();
    };
  }

  function later() {
    clearTimeout(reconnectTimer);
    var delay = Math.min(15000, 500 * Math.pow(2, retries++)) + Math.random() * 300;
    reconnectTimer = setTimeout(connect, delay);
  }

  function noteReply() {
    if (isOpen && !document.hidden) return;
    unread += 1;
    tell({ type: "unread", count: unread });
  }

  /* The forms. */

  function formError(element, text, field) {
    element.textContent = text;
    element.hidden = !text;
    var target = field && (prechat.elements.namedItem(field) || null);
    if (target && target.focus) target.focus();
  }

  prechat.addEventListener("submit", function (event) {
    event.preventDefault();
    var fields = prechat.elements;
    var body = {
      name: fields.namedItem("name").value,
      email: fields.namedItem("email").value,
      content: fields.namedItem("content").value,
    };
    var department = fields.namedItem("department");
    if (department) body.department = department.value;
    var button = prechat.querySelector("button[type=submit]");
    button.disabled = true;
    prechatAttach.disabled = true;
    formError(prechatError, "");
    api("POST", "conversations", messageBody(body))
      .then(function (result) {
        if (result.status === 201) {
          saveToken(result.data.visitor_token);
          prechat.reset();
          clearChosen();
          showChat(result.data.messages);
          input.focus();
          connect();
        } else {
          var field = result.data.detail && result.data.detail.field;
          formError(prechatError, result.data.error || strings.error, field);
        }
      })
      .catch(function () {
        formError(prechatError, strings.error);
      })
      .finally(function () {
        button.disabled = false;
        prechatAttach.disabled = false;
      });
  });

  function grow() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  }

  input.addEventListener("input", grow);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var content = input.value.trim();
    if ((!content && !chosen.length) || composer.dataset.busy) return;
    composer.dataset.busy = "1";
    composer.classList.add("busy");
    attach.disabled = true;
    api("POST", "messages", messageBody({ content: content }))
      .then(function (result) {
        if (result.status === 201) {
          input.value = "";
          clearChosen();
          grow();
          showNotice("");
          append(result.data.message);
          scrollDown();
          if (result.data.new_conversation) connect();
        } else if (result.status === 401) {
          forget();
          showNotice(result.data.error || strings.expired);
        } else {
          showNotice(result.data.error || strings.error);
        }
      })
      .catch(function () {
        showNotice(strings.error);
      })
      .finally(function () {
        delete composer.dataset.busy;
        composer.classList.remove("busy");
        attach.disabled = false;
        input.focus();
      });
  });

  /* The host page: open, close, unread count. */

  document.getElementById("close").addEventListener("click", function () {
    tell({ type: "close" });
  });
  if (!embedded) document.getElementById("close").hidden = true;

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || !event.data || event.data.handoff !== true) return;
    if (event.data.type === "opened") {
      isOpen = true;
      unread = 0;
      tell({ type: "unread", count: 0 });
      (composer.hidden ? prechat.elements.namedItem("name") : input).focus();
      scrollDown();
    } else if (event.data.type === "closed") {
      isOpen = false;
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && embedded) tell({ type: "close" });
  });

  document.addEventListener("visibilitychange", function () {
    // A phone that slept may have dropped the socket silently: check at once.
    if (!document.hidden && visitor && !socket) connect();
  });

  tell({ type: "ready", labels: { open: strings.open, close: strings.close, title: strings.title } });

  if (visitor) {
    refresh()
      .then(function (ok) {
        if (ok) connect();
      })
      .catch(function () {
        showNotice(strings.offline);
        showChat([]);
        later();
      });
  } else {
    showPrechat();
  }
})();
