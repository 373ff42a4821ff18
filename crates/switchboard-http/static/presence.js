// Presence board and timeline: follow GET /api/v1/presence/stream (Server-Sent Events; the
// console session cookie authenticates it) and update every element marked data-presence.
// Without this file the pages still show the state as of loading.
(function () {
  "use strict";

  var LABELS = {
    available: "Available", away: "Away", do_not_disturb: "Do not disturb",
    lunch: "Lunch", business_trip: "Business trip"
  };
  // Stale "until" times are fixed by reconnecting: the new stream starts with a fresh snapshot.
  var STALE_MS = 10000;

  var holder = document.querySelector("[data-time-zone]");
  var zone = (holder && holder.getAttribute("data-time-zone")) || "UTC";
  var live = document.getElementById("live-status");

  function parts(date) {
    var out = {};
    try {
      new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23"
      }).formatToParts(date).forEach(function (p) { out[p.type] = p.value; });
    } catch (e) {
      // An unknown zone: UTC, as the server falls back to.
      zone = "UTC";
      return parts(date);
    }
    return out;
  }

  // "09:30" today, "2 Nov 09:30" on another day, as the server writes it.
  function shortTime(iso) {
    if (!iso) { return ""; }
    var at = parts(new Date(iso));
    var today = parts(new Date());
    var time = at.hour + ":" + at.minute;
    if (at.year === today.year && at.month === today.month && at.day === today.day) { return time; }
    return at.day + " " + at.month + " " + time;
  }

  function badge(status) {
    var span = document.createElement("span");
    span.className = "presence-badge presence-" + status + " presence-faint";
    span.textContent = LABELS[status] || status;
    return span;
  }

  function update(item, flash) {
    var rows = document.querySelectorAll("[data-presence]");
    Array.prototype.forEach.call(rows, function (row) {
      if (row.getAttribute("data-presence") !== item.extension) { return; }
      var status = row.querySelector('[data-field="status"]');
      if (status) {
        status.className = "presence-badge presence-" + item.status;
        status.setAttribute("data-status", item.status);
        status.textContent = LABELS[item.status] || item.status;
      }
      var setBy = row.querySelector('[data-field="source"]');
      if (setBy) {
        setBy.setAttribute("data-source", item.source);
        setBy.textContent = item.source;
      }
      var until = row.querySelector('[data-field="until"]');
      if (until) {
        until.setAttribute("datetime", item.until || "");
        until.textContent = shortTime(item.until);
      }
      // The "Set" form must offer the status shown, or a click would put back a stale one
      // (and, being a manual change, override the calendar). Leave it alone while in use.
      var select = row.querySelector('select[name="status"]');
      if (select && document.activeElement !== select) { select.value = item.status; }
      var restores = row.querySelector('[data-field="restores"]');
      if (restores) {
        restores.setAttribute("data-status", item.restores || "");
        restores.textContent = "";
        if (item.restores) { restores.appendChild(badge(item.restores)); }
      }
      if (flash && row.tagName === "TR") {
        row.classList.remove("changed");
        void row.offsetWidth; // restart the highlight
        row.classList.add("changed");
      }
    });
  }

  function say(state, text) {
    if (!live) { return; }
    live.setAttribute("data-state", state);
    live.textContent = text;
  }

  var source = null;
  function connect() {
    if (!window.EventSource || !document.querySelector("[data-presence]")) { return; }
    if (source) { source.close(); }
    say("connecting", "Connecting…");
    source = new EventSource("/api/v1/presence/stream");
    source.addEventListener("snapshot", function (event) {
      var items;
      try { items = JSON.parse(event.data); } catch (e) { return; }
      items.forEach(function (item) { update(item, false); });
      say("live", "Live");
    });
    source.addEventListener("presence", function (event) {
      try { update(JSON.parse(event.data), true); } catch (e) { /* a malformed event changes nothing */ }
    });
    source.addEventListener("resync", function () { say("connecting", "Catching up…"); });
    source.onerror = function () {
      // The browser retries by itself while the stream can come back; a refused one (the
      // session ended) is closed for good.
      if (source.readyState === EventSource.CLOSED) {
        say("offline", "Live updates stopped: reload the page (sign in again if asked).");
      } else {
        say("connecting", "Reconnecting…");
      }
    };
  }

  function staleUntil() {
    var now = Date.now();
    var times = document.querySelectorAll('[data-presence] [data-field="until"]');
    return Array.prototype.some.call(times, function (t) {
      var iso = t.getAttribute("datetime");
      return iso && Date.parse(iso) + STALE_MS < now;
    });
  }

  // The timeline's "now" line moves with the clock.
  function moveNow() {
    var svg = document.getElementById("timeline");
    var line = document.getElementById("tl-now");
    var label = document.getElementById("tl-now-label");
    if (!svg || !line) { return; }
    var start = Date.parse(svg.getAttribute("data-day-start"));
    var end = Date.parse(svg.getAttribute("data-day-end"));
    if (!(end > start)) { return; }
    var pct = Math.max(0, Math.min(100, (Date.now() - start) / (end - start) * 100)).toFixed(3) + "%";
    line.setAttribute("x1", pct);
    line.setAttribute("x2", pct);
    if (label) {
      label.setAttribute("x", pct);
      var p = parts(new Date());
      label.textContent = "now " + p.hour + ":" + p.minute;
    }
  }

  function ready() {
    connect();
    setInterval(function () {
      if (staleUntil() && source && source.readyState !== EventSource.CONNECTING) { connect(); }
      moveNow();
    }, 30000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
