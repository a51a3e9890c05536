// Progressive enhancement for the task form: everything here is optional, the form
// works as a plain POST without it. Listeners are delegated from document so they
// keep working after HTMX swaps the form in place.
(function () {
  "use strict";

  function catalogue(form) {
    var node = form && form.querySelector("#catalogue-data");
    try { return node ? JSON.parse(node.textContent) : {}; } catch (e) { return {}; }
  }

  function utf16Units(text) {
    return text.length; // JavaScript strings are UTF-16: length counts code units, as the API does.
  }

  function formatAmount(value) {
    return Number.isInteger(value) ? String(value) : value.toFixed(2).replace(/\.?0+$/, "");
  }

  function fillSelect(select, values, label) {
    var current = select.value;
    select.textContent = "";
    values.forEach(function (value) {
      var option = document.createElement("option");
      option.value = String(value);
      option.textContent = label ? label(value) : String(value);
      select.appendChild(option);
    });
    var keep = values.map(String).indexOf(current) >= 0;
    select.value = keep ? current : String(values[0]);
  }

  function secondsLabel(select) {
    var template = select.dataset.secondsLabel || "{n}";  // "{n} s", "{n} 秒": from the page's catalogue
    return function (n) { return template.replace("{n}", n); };
  }

  function updateEstimate(form) {
    var spec = catalogue(form)[form.querySelector("[data-model]").value];
    var box = form.querySelector("[data-estimate]");
    if (!spec || !box) return;
    var price = spec.prices[form.querySelector("[data-duration]").value];
    box.textContent = price === undefined ? "" : box.dataset.label + formatAmount(price) + " " + box.dataset.currency;
    updateAccountWarnings(form);
  }

  // The account panel has a warning per model (and, for credits, per duration): show the current choice's.
  function updateAccountWarnings(form) {
    var model = form.querySelector("[data-model]").value;
    var duration = form.querySelector("[data-duration]").value;
    Array.prototype.forEach.call(form.querySelectorAll("[data-account-warning]"), function (node) {
      var forDuration = node.dataset.accountDuration;
      node.hidden = node.dataset.accountWarning !== model || (forDuration !== "" && forDuration !== duration);
    });
  }

  function updatePromptCount(form) {
    var area = form.querySelector("[data-prompt]");
    var count = form.querySelector("[data-prompt-count]");
    var max = form.querySelector("[data-prompt-max]");
    if (!area || !count) return;
    var units = utf16Units(area.value);
    count.textContent = String(units);
    count.parentElement.classList.toggle("error", max && units > Number(max.textContent));
  }

  function applyModel(form) {
    var spec = catalogue(form)[form.querySelector("[data-model]").value];
    if (!spec) return;
    fillSelect(form.querySelector("[data-ratio]"), spec.ratios);
    var duration = form.querySelector("[data-duration]");
    fillSelect(duration, spec.durations, secondsLabel(duration));
    var last = form.querySelector("#last_frame-fieldset");
    if (last) last.disabled = spec.positions.indexOf("last") < 0;
    var max = form.querySelector("[data-prompt-max]");
    if (max) max.textContent = String(spec.promptMax);
    updatePromptCount(form);
    updateEstimate(form);
  }

  function showPreview(fieldset, src) {
    var img = fieldset.querySelector("[data-preview-img]");
    var empty = fieldset.querySelector("[data-preview-empty]");
    if (!img || !src) return;
    var previous = img.getAttribute("src");
    img.src = src;
    img.hidden = false;
    if (empty) empty.hidden = true;
    if (previous !== src) forget(previous);
  }

  // Object URLs keep their file in memory until revoked or the page goes away.
  function forget(url) {
    if (url && url.indexOf("blob:") === 0) URL.revokeObjectURL(url);
  }

  // The status box is replaced on every poll; a screen reader hears the status once, when it changes,
  // from a live region outside the box that stays in place.
  function announceStatus() {
    var box = document.getElementById("task-status");
    var live = document.getElementById("task-status-live");
    if (!box || !live || live.dataset.status === box.dataset.status) return;
    live.dataset.status = box.dataset.status;
    live.textContent = Array.prototype.map.call(box.querySelectorAll("[data-announce]"), function (node) {
      return node.textContent.trim();
    }).join(" ");
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = target.closest("#task-form");
    if (!form) return;
    if (target.matches("[data-model]")) applyModel(form);
    if (target.matches("[data-duration]")) updateEstimate(form);
    if (target.matches("[data-frame-file]") && target.files && target.files[0]) {
      showPreview(target.closest("fieldset"), URL.createObjectURL(target.files[0]));
    }
    if (target.matches("[data-frame-url]")) {
      var url = target.value.trim();
      if (/^(https:\/\/|data:image\/)/i.test(url)) showPreview(target.closest("fieldset"), url);
    }
  });

  document.addEventListener("input", function (event) {
    var form = event.target.closest("#task-form");
    if (form && event.target.matches("[data-prompt]")) updatePromptCount(form);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-roll-seed]");
    if (!button) return;
    var input = button.closest("form").querySelector("#seed");
    var value = new Uint32Array(1);
    window.crypto.getRandomValues(value);
    input.value = String(value[0]);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!event.detail.shouldSwap || !target || target.id !== "task-form") return;
    target.querySelectorAll("[data-preview-img]").forEach(function (img) { forget(img.getAttribute("src")); });
  });

  function init() {
    var form = document.getElementById("task-form");
    if (form) updatePromptCount(form);
    announceStatus();
  }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
})();
