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

  // User Sync and Contact Sync: while a run is going, follow GET /api/v1/sync every second;
  // when it ends, reload the status card from the page. The box names its sync kind, its page
  // and what it counts (data-kind, data-page, data-unit-one, data-unit-many).
  function followSync() {
    var box = document.getElementById("sync-progress");
    if (!box || box.getAttribute("data-state") !== "running" || box.hasAttribute("data-following")) { return; }
    box.setAttribute("data-following", "");
    var kind = box.getAttribute("data-kind") || "users";
    var pageUrl = box.getAttribute("data-page") || "/sync/users";
    var unitOne = box.getAttribute("data-unit-one") || "user";
    var unitMany = box.getAttribute("data-unit-many") || "users";
    var expected = parseInt(box.getAttribute("data-expected"), 10) || 0;
    var sawRunning = false;
    var polls = 0;

    function show(run) {
      var bar = document.getElementById("sync-progress-bar");
      var processed = run.processed || 0;
      var text = document.getElementById("sync-processed");
      if (text) { text.textContent = String(processed); }
      var unit = document.getElementById("sync-processed-unit");
      if (unit) { unit.textContent = processed === 1 ? unitOne : unitMany; }
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
        bar.textContent = processed + " " + unitMany;
      }
    }

    function refreshCard() {
      fetch(pageUrl, { credentials: "same-origin" })
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
          var run = data && data[kind] ? data[kind].running : null;
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

  // User Sync scope picker: search the tenant (GET /api/v1/directory/users|groups with the
  // session cookie) and add the picked ids to the scope textarea, shown as removable chips.
  // Without this, the textarea alone still works.
  function scopePicker() {
    var search = document.getElementById("scope-search");
    var textarea = document.getElementById("scope-ids");
    var results = document.getElementById("scope-results");
    var chips = document.getElementById("scope-chips");
    var picker = document.getElementById("scope-picker");
    if (!search || !textarea || !results || !chips || !picker) { return; }
    var status = document.getElementById("scope-search-status");
    var names = {};
    var timer = null;
    var sequence = 0;

    Array.prototype.forEach.call(chips.querySelectorAll("li[data-id]"), function (li) {
      var label = li.querySelector("span");
      if (label) { names[li.getAttribute("data-id").toLowerCase()] = label.textContent; }
    });

    function ids() {
      var seen = {};
      return textarea.value.split(/[\s,;]+/).filter(function (id) {
        var key = id.toLowerCase();
        if (!id || seen[key]) { return false; }
        seen[key] = true;
        return true;
      });
    }
    function mode() {
      var checked = document.querySelector('input[name="scope_mode"]:checked');
      return checked ? checked.value : "all";
    }
    function kind() { return mode() === "groups" ? "groups" : "users"; }
    function say(text) { if (status) { status.textContent = text; } }

    function chip(id) {
      var li = document.createElement("li");
      li.className = "scope-chip";
      li.setAttribute("data-id", id);
      var name = names[id.toLowerCase()] || id;
      var label = document.createElement("span");
      label.textContent = name;
      label.title = id;
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "scope-chip-remove";
      remove.setAttribute("data-remove-id", id);
      remove.setAttribute("aria-label", "Remove " + name);
      remove.textContent = "×";
      li.appendChild(label);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(remove);
      return li;
    }
    // One chip per id of the textarea, in its order.
    function syncChips() {
      var existing = {};
      Array.prototype.forEach.call(chips.querySelectorAll("li[data-id]"), function (li) {
        existing[li.getAttribute("data-id").toLowerCase()] = li;
      });
      var wanted = ids();
      var keep = {};
      wanted.forEach(function (id) {
        var key = id.toLowerCase();
        keep[key] = true;
        var li = existing[key] || chip(id);
        var remove = li.querySelector("button");
        if (remove) { remove.hidden = false; }
        chips.appendChild(li);
      });
      Object.keys(existing).forEach(function (key) {
        if (!keep[key]) { existing[key].remove(); }
      });
    }
    function add(id, name) {
      names[id.toLowerCase()] = name;
      var current = ids();
      var present = current.some(function (x) { return x.toLowerCase() === id.toLowerCase(); });
      if (!present) {
        current.push(id);
        textarea.value = current.join("\n");
      }
      syncChips();
    }
    function removeId(id) {
      textarea.value = ids().filter(function (x) { return x.toLowerCase() !== id.toLowerCase(); }).join("\n");
      syncChips();
    }

    function badge(text, cls) {
      var b = document.createElement("span");
      b.className = "badge " + cls;
      b.textContent = text;
      return b;
    }
    function show(items, what) {
      results.textContent = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "scope-result";
        button.setAttribute("data-pick-id", item.id);
        button.setAttribute("data-pick-name", item.display_name || item.id);
        var name = document.createElement("strong");
        name.textContent = item.display_name || item.id;
        button.appendChild(name);
        var detail = what === "users" ? (item.user_principal_name || item.mail) : item.mail;
        if (detail) {
          var small = document.createElement("span");
          small.className = "hint";
          small.textContent = " " + detail;
          button.appendChild(small);
        }
        if (item.guest) { button.appendChild(document.createTextNode(" ")); button.appendChild(badge("guest", "badge-guest")); }
        if (item.disabled) { button.appendChild(document.createTextNode(" ")); button.appendChild(badge("disabled", "badge-disabled")); }
        li.appendChild(button);
        results.appendChild(li);
      });
      say(items.length ? "" : "Nothing found.");
    }
    function run() {
      var q = search.value.trim();
      var what = kind();
      var mine = ++sequence;
      if (!q) { results.textContent = ""; say(""); return; }
      say("Searching…");
      fetch("/api/v1/directory/" + what + "?limit=10&q=" + encodeURIComponent(q), {
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      })
        .then(function (r) {
          return r.json().then(function (body) { return { ok: r.ok, body: body }; });
        })
        .then(function (answer) {
          if (mine !== sequence) { return; }
          if (!answer.ok) {
            results.textContent = "";
            say((answer.body && answer.body.error) || "The search failed.");
            return;
          }
          show(answer.body[what] || [], what);
        })
        .catch(function () { if (mine === sequence) { say("The search failed: check the connection."); } });
    }
    function schedule() {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(run, 250);
    }
    function followMode() {
      var m = mode();
      picker.hidden = m === "all";
      search.placeholder = m === "groups" ? "Start typing a group name…" : "Start typing a name or UPN…";
      results.textContent = "";
      say("");
      if (search.value.trim()) { schedule(); }
    }

    search.addEventListener("input", schedule);
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); run(); } // never submit the form
    });
    results.addEventListener("click", function (event) {
      var pick = event.target.closest("[data-pick-id]");
      if (!pick) { return; }
      add(pick.getAttribute("data-pick-id"), pick.getAttribute("data-pick-name"));
    });
    chips.addEventListener("click", function (event) {
      var remove = event.target.closest("[data-remove-id]");
      if (remove) { removeId(remove.getAttribute("data-remove-id")); }
    });
    textarea.addEventListener("input", syncChips);
    Array.prototype.forEach.call(document.querySelectorAll('input[name="scope_mode"]'), function (radio) {
      radio.addEventListener("change", followMode);
    });
    syncChips();
    followMode();
  }

  function ready() {
    followSync();
    scopePicker();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
