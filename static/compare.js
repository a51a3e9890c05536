// Comparisons: one control that plays every video of the grid in sync, and the form's live estimate for
// a set of tasks. Optional: without it, each video has its own controls and the form still submits.
(function () {
  "use strict";

  // A follower further than this from the leader (in seconds) is put back in step.
  var TOLERANCE = 0.12;
  var TICK_MS = 100;

  // --- the synchronised player ---------------------------------------------------------------------

  var playing = false;
  var timer = null;

  function videos() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-sync-video]"));
  }

  function ready(list) {
    return list.filter(function (v) { return v.readyState >= 1 && isFinite(v.duration); });
  }

  // The longest video leads: the others follow its clock, and the set loops when it ends.
  function leader(list) {
    return ready(list).reduce(function (best, v) { return !best || v.duration > best.duration ? v : best; }, null);
  }

  function bar() { return document.querySelector("[data-sync-bar]"); }

  function formatSeconds(output, seconds) {
    var template = output.dataset.secondsLabel || "{n}";
    output.textContent = template.replace("{n}", seconds.toFixed(1));
  }

  function refreshBar() {
    var box = bar();
    if (!box) return;
    var list = videos();
    var lead = leader(list);
    var button = box.querySelector("[data-sync-play]");
    var seek = box.querySelector("[data-sync-seek]");
    var waiting = box.querySelector("[data-sync-waiting]");
    box.hidden = false;
    button.disabled = !lead;
    seek.disabled = !lead;
    if (waiting) waiting.hidden = !!lead;
    button.textContent = playing ? button.dataset.labelPause : button.dataset.labelPlay;
    button.setAttribute("aria-pressed", playing ? "true" : "false");
    if (lead) {
      seek.max = String(lead.duration);
      if (document.activeElement !== seek) seek.value = String(lead.currentTime);
      formatSeconds(box.querySelector("[data-sync-time]"), lead.currentTime);
    }
  }

  function seekAll(seconds) {
    videos().forEach(function (v) {
      if (isFinite(v.duration)) v.currentTime = Math.min(seconds, Math.max(0, v.duration - 0.05));
    });
  }

  function step() {
    var list = videos();
    var lead = leader(list);
    if (!lead) return;
    if (lead.ended) {
      // The longest one is done: start the whole set again together.
      seekAll(0);
      list.forEach(function (v) { v.play().catch(function () {}); });
    } else {
      var now = lead.currentTime;
      list.forEach(function (v) {
        if (v === lead || !isFinite(v.duration)) return;
        if (now >= v.duration) return;  // a shorter video rests on its last frame until the set loops
        if (Math.abs(v.currentTime - now) > TOLERANCE) v.currentTime = now;
        if (v.paused) v.play().catch(function () {});
      });
      if (lead.paused) lead.play().catch(function () {});
    }
    refreshBar();
  }

  function play() {
    var list = videos();
    var lead = leader(list);
    if (!lead) return;
    playing = true;
    if (lead.ended || lead.currentTime >= lead.duration - 0.05) seekAll(0);
    else seekAll(lead.currentTime);
    list.forEach(function (v) { v.play().catch(function () {}); });
    if (timer === null) timer = window.setInterval(step, TICK_MS);
    refreshBar();
  }

  function pause() {
    playing = false;
    if (timer !== null) { window.clearInterval(timer); timer = null; }
    var list = videos();
    list.forEach(function (v) { v.pause(); });
    var lead = leader(list);
    if (lead) seekAll(lead.currentTime);
    refreshBar();
  }

  // Each video has its own controls without JavaScript; with it, the one control drives them all.
  function adopt(root) {
    root.querySelectorAll("[data-sync-video]").forEach(function (v) {
      v.controls = false;
      v.loop = false;
      if (!v.dataset.syncAdopted) {
        v.dataset.syncAdopted = "true";
        v.addEventListener("loadedmetadata", function () {
          if (playing) { v.currentTime = Math.min((leader(videos()) || v).currentTime, v.duration); v.play().catch(function () {}); }
          refreshBar();
        });
      }
    });
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-sync-play]")) return;
    if (playing) pause(); else play();
  });

  document.addEventListener("input", function (event) {
    if (!event.target.matches("[data-sync-seek]")) return;
    seekAll(Number(event.target.value));
    formatSeconds(bar().querySelector("[data-sync-time]"), Number(event.target.value));
  });

  // --- the form's estimate for a set ------------------------------------------------------------------

  function catalogue(form) {
    var node = form.querySelector("#catalogue-data");
    try { return node ? JSON.parse(node.textContent) : {}; } catch (e) { return {}; }
  }

  function seedCount(form) {
    var input = form.querySelector("[data-compare-seeds]");
    var text = input ? input.value.trim() : "";
    if (!text) return 1;
    if (text.indexOf(",") < 0) return /^\d+$/.test(text) ? Number(text) : NaN;
    var seeds = text.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    if (!seeds.every(function (s) { return /^\d+$/.test(s); })) return NaN;
    return seeds.filter(function (s, i) { return seeds.indexOf(s) === i; }).length;
  }

  function closestDuration(durations, wanted) {
    return durations.slice().sort(function (a, b) { return Math.abs(a - wanted) - Math.abs(b - wanted) || a - b; })[0];
  }

  function formatAmount(value) {
    return Number.isInteger(value) ? String(value) : value.toFixed(2).replace(/\.?0+$/, "");
  }

  // The model chosen above runs anyway: its box shows that, checked and disabled, until another is chosen.
  function markChosenModel(form) {
    var select = form.querySelector("[data-model]");
    if (!select) return;
    form.querySelectorAll("[data-compare-model]").forEach(function (box) {
      var chosen = box.value === select.value;
      if (chosen && !box.disabled) { box.dataset.wasChecked = box.checked ? "true" : ""; box.checked = true; }
      if (!chosen && box.disabled) box.checked = box.dataset.wasChecked === "true";
      box.disabled = chosen;
    });
  }

  function updateSetEstimate(form) {
    var box = form.querySelector("[data-compare-estimate]");
    var select = form.querySelector("[data-model]");
    if (!box || !select) return;
    var specs = catalogue(form);
    var models = [select.value];
    form.querySelectorAll("[data-compare-model]:checked").forEach(function (c) {
      if (models.indexOf(c.value) < 0) models.push(c.value);
    });
    var seeds = seedCount(form);
    var single = models.length === 1 && !form.querySelector("[data-compare-seeds]").value.trim();
    // The one-task estimate by the Generate button would mislead for a set: this one replaces it.
    var oneTask = form.querySelector("[data-estimate]");
    if (oneTask) oneTask.hidden = !single;
    if (single || !isFinite(seeds)) { box.textContent = box.dataset.static || box.textContent; return; }
    box.dataset.static = box.dataset.static || box.textContent;
    var count = models.length * seeds;
    var fill = function (template) {
      return template.replace("{count}", count).replace("{max}", box.dataset.max)
        .replace("{currency}", box.dataset.currency);
    };
    if (count > Number(box.dataset.max)) { box.textContent = fill(box.dataset.templateTooMany); return; }
    var wanted = Number(form.querySelector("[data-duration]").value);
    var total = 0;
    var priced = models.every(function (id) {
      var spec = specs[id];
      if (!spec) return false;
      var price = spec.prices[String(closestDuration(spec.durations, wanted))];
      if (price === undefined) return false;
      total += price * seeds;
      return true;
    });
    box.textContent = priced ? fill(box.dataset.template).replace("{total}", formatAmount(total))
      : fill(box.dataset.templateUnpriced);
  }

  ["change", "input"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var form = event.target.closest && event.target.closest("#task-form");
      if (!form) return;
      if (event.target.matches("[data-model]")) markChosenModel(form);
      updateSetEstimate(form);
    });
  });

  function init() {
    if (bar()) { adopt(document); refreshBar(); }
    var form = document.getElementById("task-form");
    if (form) { markChosenModel(form); updateSetEstimate(form); }
  }

  document.addEventListener("DOMContentLoaded", init);
  // A cell that just finished brings its video: it joins the set at the current position.
  document.addEventListener("htmx:afterSettle", function () {
    if (bar()) { adopt(document); refreshBar(); }
    var form = document.getElementById("task-form");
    if (form) { markChosenModel(form); updateSetEstimate(form); }
  });
})();
