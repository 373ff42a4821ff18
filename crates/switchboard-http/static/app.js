// Switchboard console: progressive enhancements only; every page works without this file.
(function () {
  "use strict";

  function copyText(input, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    var fallback = function () {
      input.focus();
      input.select();
      try {
        if (document.execCommand("copy")) { done(); }
      } catch (e) { /* the text stays selected for Ctrl+C */ }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) { return; }
    var input = document.getElementById(button.getAttribute("data-copy-target"));
    if (input) { copyText(input, button); }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  // A select marked data-autosubmit sends its form when changed (the group filter).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) { select.form.submit(); }
  });

  // The preview's action filter: the links jump to a group without JS; with it they filter.
  document.addEventListener("click", function (event) {
    var chip = event.target.closest("#plan-filter [data-filter]");
    if (!chip) { return; }
    event.preventDefault();
    var wanted = chip.getAttribute("data-filter");
    var chips = document.querySelectorAll("#plan-filter [data-filter]");
    Array.prototype.forEach.call(chips, function (c) {
      var on = c === chip;
      c.classList.toggle("active", on);
      if (on) { c.setAttribute("aria-current", "true"); } else { c.removeAttribute("aria-current"); }
    });
    var groups = document.querySelectorAll("#plan-table tbody[data-group]");
    Array.prototype.forEach.call(groups, function (g) {
      g.hidden = wanted !== "all" && g.getAttribute("data-group") !== wanted;
    });
  });

  // User Sync: while a run is going, follow GET /api/v1/sync every second; when it ends,
  // reload the status card from the page.
  function followSync() {
    var box = document.getElementById("sync-progress");
    if (!box || box.getAttribute("data-state") !== "running" || box.hasAttribute("data-following")) { return; }
    box.setAttribute("data-following", "");
    var expected = parseInt(box.getAttribute("data-expected"), 10) || 0;
    var sawRunning = false;
    var polls = 0;

    function show(run) {
      var bar = document.getElementById("sync-progress-bar");
      var processed = run.processed || 0;
      var text = document.getElementById("sync-processed");
      if (text) { text.textContent = String(processed); }
      var unit = document.getElementById("sync-processed-unit");
      if (unit) { unit.textContent = processed === 1 ? "user" : "users"; }
      // "Starting…" until the run has stored itself; then its real mode.
      var label = box.querySelector("label[data-starting]");
      if (label && (run.mode === "full" || run.mode === "delta")) {
        var since = typeof run.started_at === "string"
          ? " since " + run.started_at.replace("T", " ").slice(0, 19) + " UTC" : "";
        label.textContent = "Running " + run.mode + " sync" + since;
        label.removeAttribute("data-starting");
      }
      Object.keys(run.counts || {}).forEach(function (key) {
        var el = box.querySelector('[data-count="' + key + '"]');
        if (el) { el.textContent = String(run.counts[key]); }
      });
      if (bar) {
        if (run.mode === "full" && expected > 0) {
          bar.max = Math.max(expected, processed);
          bar.value = processed;
        } else {
          bar.removeAttribute("value");
        }
        bar.textContent = processed + " users";
      }
    }

    function refreshCard() {
      fetch("/sync/users", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("sync-status");
          var card = document.getElementById("sync-status");
          if (fresh && card) {
            card.replaceWith(document.importNode(fresh, true));
            followSync();
          }
        })
        .catch(function () { window.location.reload(); });
    }

    function poll() {
      polls += 1;
      fetch("/api/v1/sync", { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          var run = data && data.users ? data.users.running : null;
          if (run) {
            sawRunning = true;
            show(run);
            setTimeout(poll, 1000);
          } else if (!sawRunning && polls < 3) {
            setTimeout(poll, 1000); // the run may not have published its first page yet
          } else {
            refreshCard();
          }
        })
        .catch(function () { setTimeout(poll, 5000); });
    }
    setTimeout(poll, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", followSync);
  } else {
    followSync();
  }
})();
