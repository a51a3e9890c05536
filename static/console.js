// Progressive enhancement: everything here is optional, every page works as plain HTML and the task form
// as a plain POST without it. Listeners are delegated from document so they keep working after HTMX swaps
// the form in place. localizeTimes(root) is shared by every page that shows a <time datetime>.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var SIM_BANNER_KEY = "runway-console.simBannerDismissed";
  // Uploads smaller than this finish before a progress bar could be read.
  var PROGRESS_MIN_BYTES = 256 * 1024;

  // State that must survive the form being swapped after a rejected submit.
  var state = {
    ratioTouched: false,
    firstFrame: null,        // {width, height} of the first frame, upright
    keptPreviews: {}         // position -> blob URL of a frame just sent, shown again if it was refused
  };

  function json(form, id) {
    var node = form && form.querySelector("#" + id);
    try { return node ? JSON.parse(node.textContent) : {}; } catch (e) { return {}; }
  }
  function catalogue(form) { return json(form, "catalogue-data"); }
  function strings(form) { return json(form, "form-strings"); }

  function fill(template, params) {
    return String(template || "").replace(/\{(\w+)\}/g, function (match, name) {
      return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : match;
    });
  }

  // ---- Times: <time datetime="…Z"> in UTC from the server, shown in the viewer's zone and language. ----
  // The one place pages localise times: call window.localizeTimes(root) after inserting markup with times
  // (HTMX swaps are handled here). A localised <time> is marked data-localised and keeps the UTC as its title.

  function localizeTimes(root) {
    var lang = document.documentElement.lang || undefined;
    var format;
    try {
      format = new Intl.DateTimeFormat(lang, {
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23"
      });
    } catch (e) { return; }
    (root || document).querySelectorAll("time[datetime]").forEach(function (node) {
      if (node.dataset.localised === "true") return;
      var iso = node.getAttribute("datetime");
      var when = new Date(iso);
      if (isNaN(when.getTime())) return;
      node.textContent = format.format(when);
      if (!node.title) node.title = iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
      node.dataset.localised = "true";
    });
  }
  window.localizeTimes = localizeTimes;

  // ---- Model, duration, prompt counter, estimate ----

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
    offerRatios(form, spec.ratios);
    var duration = form.querySelector("[data-duration]");
    fillSelect(duration, spec.durations, secondsLabel(duration));
    var last = form.querySelector("#last_frame-fieldset");
    if (last) last.disabled = spec.positions.indexOf("last") < 0;
    var max = form.querySelector("[data-prompt-max]");
    if (max) max.textContent = String(spec.promptMax);
    updatePromptCount(form);
    updateEstimate(form);
  }

  // ---- Ratios: named radio choices; the closest to the first frame is chosen until the user picks one. ----

  function ratioInputs(form, enabledOnly) {
    return Array.prototype.filter.call(form.querySelectorAll("input[data-ratio]"), function (input) {
      return !enabledOnly || !input.disabled;
    });
  }

  function checkedRatio(form) {
    return ratioInputs(form, true).filter(function (input) { return input.checked; })[0] || null;
  }

  function closestRatio(inputs, aspect) {
    var best = null;
    inputs.forEach(function (input) {
      var distance = Math.abs(Math.log(Number(input.dataset.aspect)) - Math.log(aspect));
      if (!best || distance < best.distance) best = { input: input, distance: distance };
    });
    return best && best.input;
  }

  function offerRatios(form, ratios) {
    var box = form.querySelector("[data-ratio-options]");
    var previous = checkedRatio(form);
    var inputs = ratioInputs(form, false);
    inputs.forEach(function (input) {
      var offered = ratios.indexOf(input.value) >= 0;
      input.disabled = !offered;
      input.closest("[data-ratio-option]").hidden = !offered;
    });
    ratios.forEach(function (ratio) {  // the model's own order
      var input = inputs.filter(function (i) { return i.value === ratio; })[0];
      if (input) box.appendChild(input.closest("[data-ratio-option]"));
    });
    if (previous && !previous.disabled) return updateCrop(form);
    var enabled = ratioInputs(form, true);
    var target = state.firstFrame && !state.ratioTouched
      ? state.firstFrame.width / state.firstFrame.height
      : (previous ? Number(previous.dataset.aspect) : null);
    var choice = target ? closestRatio(enabled, target) : enabled[0];
    if (choice) choice.checked = true;
    if (state.firstFrame && !state.ratioTouched) sayChosen(form, choice);
    updateCrop(form);
  }

  function orientationOf(width, height) {
    if (Math.abs(width / height - 1) <= 0.02) return "square";
    return width > height ? "landscape" : "portrait";
  }

  function gcd(a, b) { return b ? gcd(b, a % b) : a; }

  function aspectName(form, width, height) {
    var rules = strings(form).aspects || { names: [], nameTolerance: 0 };
    var aspect = width / height;
    for (var i = 0; i < rules.names.length; i += 1) {
      var pair = rules.names[i];
      if (Math.abs(aspect / (pair[0] / pair[1]) - 1) <= rules.nameTolerance) return pair[0] + ":" + pair[1];
    }
    var d = gcd(width, height);
    return Math.max(width / d, height / d) <= 64 ? (width / d) + ":" + (height / d) : aspect.toFixed(2) + ":1";
  }

  function sayChosen(form, input) {
    var note = form.querySelector("[data-ratio-note]");
    if (!note || !input || !state.firstFrame) return;
    var chosen = strings(form).chosen || {};
    var shape = orientationOf(state.firstFrame.width, state.firstFrame.height);
    note.textContent = fill(chosen[shape], { ratio: input.dataset.name });
  }

  function chooseRatioForFrame(form) {
    if (state.ratioTouched || !state.firstFrame) return;
    var choice = closestRatio(ratioInputs(form, true), state.firstFrame.width / state.firstFrame.height);
    if (!choice) return;
    choice.checked = true;
    sayChosen(form, choice);
  }

  // The upstream crops the frame to the video's ratio around its centre: outline what is kept.
  function updateCrop(form) {
    var warning = form.querySelector("[data-crop-warning]");
    var card = form.querySelector("#first_frame-fieldset");
    var box = card && card.querySelector("[data-crop-box]");
    var input = checkedRatio(form);
    var frame = state.firstFrame;
    var factor = frame && input ? (frame.width / frame.height) / Number(input.dataset.aspect) : 1;
    var kept = Math.min(factor, 1 / factor);
    var warnFactor = (strings(form).aspects || {}).warnFactor || 1.25;
    var differs = frame && input && 1 / kept > warnFactor;
    if (warning) {
      warning.hidden = !differs;
      warning.textContent = differs ? fill(strings(form).crop, {
        frame: aspectName(form, frame.width, frame.height),
        video: input.dataset.name,
        percent: Math.round((1 - kept) * 100)
      }) : "";
    }
    if (!box) return;
    box.hidden = !differs;
    if (!differs) return;
    var width = factor > 1 ? 1 / factor : 1;
    var height = factor > 1 ? 1 : factor;
    box.style.left = ((1 - width) / 2 * 100) + "%";
    box.style.top = ((1 - height) / 2 * 100) + "%";
    box.style.width = (width * 100) + "%";
    box.style.height = (height * 100) + "%";
  }

  function setFirstFrame(form, size) {
    state.firstFrame = size;
    if (size) chooseRatioForFrame(form);
    else {
      var note = form.querySelector("[data-ratio-note]");
      if (note) note.textContent = "";
    }
    updateCrop(form);
  }

  // The upright size: createImageBitmap applies the EXIF orientation, as the upstream's decoder does.
  function measureFile(file) {
    if (window.createImageBitmap) {
      return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
        var size = { width: bitmap.width, height: bitmap.height };
        if (bitmap.close) bitmap.close();
        return size;
      });
    }
    return Promise.reject(new Error("no createImageBitmap"));
  }

  // For URLs and kept frames: the preview's natural size, which the browser reports upright.
  function measurePreview(img) {
    return new Promise(function (resolve, reject) {
      function done() {
        if (img.naturalWidth > 0) resolve({ width: img.naturalWidth, height: img.naturalHeight });
        else reject(new Error("not an image"));
      }
      if (img.complete && img.getAttribute("src")) done();
      else {
        img.addEventListener("load", done, { once: true });
        img.addEventListener("error", function () { reject(new Error("not loaded")); }, { once: true });
      }
    });
  }

  function frameChanged(card, measured) {
    var form = card.closest("#task-form");
    if (!form || card.dataset.position !== "first") return;
    measured.then(function (size) {
      if (card.isConnected) setFirstFrame(form, size);
    }, function () {
      if (card.isConnected) setFirstFrame(form, null);
    });
  }

  // ---- Frame cards: previews, drop, paste, clear ----

  function showPreview(card, src) {
    var img = card.querySelector("[data-preview-img]");
    var empty = card.querySelector("[data-preview-empty]");
    if (!img || !src) return;
    var previous = img.getAttribute("src");
    img.src = src;
    img.hidden = false;
    if (empty) empty.hidden = true;
    card.classList.remove("is-empty");
    if (previous !== src) forget(previous);
  }

  // Object URLs keep their file in memory until revoked or the page goes away.
  function forget(url) {
    if (url && url.indexOf("blob:") === 0) URL.revokeObjectURL(url);
  }

  function isEmptyCard(card) {
    var file = card.querySelector("[data-frame-file]");
    var url = card.querySelector("[data-frame-url]");
    var ref = card.querySelector("[data-frame-ref]");
    var removed = card.querySelector("[data-frame-remove]");
    return !(file && file.files && file.files.length) && !(url && url.value.trim()) &&
      !(ref && !(removed && removed.checked));
  }

  function setCardFile(card, file) {
    var input = card.querySelector("[data-frame-file]");
    if (!input || card.disabled) return false;
    var transfer = new DataTransfer();
    transfer.items.add(file);
    input.files = transfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function clearCard(card) {
    var form = card.closest("#task-form");
    var file = card.querySelector("[data-frame-file]");
    var url = card.querySelector("[data-frame-url]");
    var removed = card.querySelector("[data-frame-remove]");
    var img = card.querySelector("[data-preview-img]");
    var empty = card.querySelector("[data-preview-empty]");
    if (file) file.value = "";
    if (url) url.value = "";
    if (removed) removed.checked = true;
    if (img) { forget(img.getAttribute("src")); img.removeAttribute("src"); img.hidden = true; }
    if (empty) empty.hidden = false;
    card.classList.add("is-empty");
    card.classList.remove("frame-rejected");
    clearFieldErrors(form, card.dataset.field);
    if (card.dataset.position === "first") setFirstFrame(form, null);
  }

  function imageFile(list) {
    return Array.prototype.filter.call(list || [], function (file) {
      return /^image\//.test(file.type);
    })[0] || null;
  }

  function pasteTarget(form) {
    var cards = Array.prototype.filter.call(form.querySelectorAll("[data-drop-zone]"), function (card) {
      return !card.disabled;
    });
    var focused = document.activeElement && document.activeElement.closest("[data-drop-zone]");
    if (focused && cards.indexOf(focused) >= 0) return focused;
    return cards.filter(isEmptyCard)[0] || cards[0] || null;
  }

  // ---- Messages: a summary at the top links to each field; a field's messages go when it changes. ----

  function clearFieldErrors(form, name) {
    if (!form || !name) return;
    var field = form.querySelector('[data-field="' + name + '"]');
    if (!field || !field.classList.contains("has-error")) return;
    field.classList.remove("has-error");
    form.querySelectorAll('[data-error-for="' + name + '"]').forEach(function (node) { node.remove(); });
    field.querySelectorAll("[aria-invalid]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
    var summary = form.querySelector("[data-error-summary]");
    if (summary && !summary.querySelector("[data-error-for]")) {
      var list = summary.querySelector(".error-links");
      if (list) list.remove();
      if (summary.querySelectorAll("p").length <= 1) summary.remove();  // only the heading was left
    }
  }

  function focusTarget(id) {
    var node = document.getElementById(id);
    if (!node) return null;
    if (node.matches("fieldset")) {
      var inputs = node.querySelectorAll("input:not([disabled]):not([type=hidden])");
      node = Array.prototype.filter.call(inputs, function (i) { return i.checked; })[0] || inputs[0] || node;
    }
    var details = node.closest("details");
    if (details) details.open = true;
    return node;
  }

  function showMessages(form) {
    var summary = form.querySelector("[data-error-summary]");
    if (!summary) return;
    summary.focus({ preventScroll: true });
    summary.scrollIntoView({ block: "start" });
  }

  // ---- Upload progress (HTMX reports the XHR's progress events) ----

  function progressBox(form) { return form && form.querySelector("[data-upload-progress]"); }

  function resetProgress(form) {
    var box = progressBox(form);
    if (!box) return;
    box.hidden = true;
    box.querySelector("progress").value = 0;
    box.querySelector("[data-upload-percent]").textContent = "";
  }

  function showProgress(form, detail) {
    var box = progressBox(form);
    if (!box || !detail.lengthComputable || detail.total < PROGRESS_MIN_BYTES) return;
    var bar = box.querySelector("progress");
    // Upload and download both report progress; the upload comes first and only moves forward.
    var percent = Math.max(Number(bar.value), Math.round(detail.loaded / detail.total * 100));
    bar.value = percent;
    box.querySelector("[data-upload-percent]").textContent = fill(strings(form).uploading, { percent: percent });
    box.hidden = false;
  }

  // ---- Simulator notice: dismissed once, remembered in this browser ----

  function remembered(key) {
    try { return window.localStorage.getItem(key) === "1"; } catch (e) { return false; }
  }
  function remember(key) {
    try { window.localStorage.setItem(key, "1"); } catch (e) { /* private mode: dismissed for this page only */ }
  }

  // ---- Task page status announcements ----

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

  // Between two changes the status poll answers 204 and the box stays as it is; the elapsed time
  // counts on here from what the server last rendered, measured on this page's own clock.
  function tickElapsed() {
    document.querySelectorAll("[data-elapsed][data-ticking]").forEach(function (node) {
      if (node.elapsedSince === undefined) node.elapsedSince = Date.now() - Number(node.dataset.elapsed) * 1000;
      var seconds = Math.max(0, Math.floor((Date.now() - node.elapsedSince) / 1000));
      node.textContent = node.dataset.elapsedLabel.replace("{n}", String(seconds));
    });
  }
  window.setInterval(tickElapsed, 1000);

  // ---- Events ----

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = target.closest("#task-form");
    if (!form) return;
    var field = target.closest("[data-field]");
    if (field) clearFieldErrors(form, field.dataset.field);
    if (target.matches("[data-model]")) applyModel(form);
    if (target.matches("[data-duration]")) updateEstimate(form);
    if (target.matches("[data-ratio]")) {
      state.ratioTouched = true;
      var note = form.querySelector("[data-ratio-note]");
      if (note) note.textContent = "";
      updateCrop(form);
    }
    var card = target.closest("[data-drop-zone]");
    if (card) card.classList.remove("frame-rejected");
    if (target.matches("[data-frame-file]") && target.files && target.files[0]) {
      var url = card.querySelector("[data-frame-url]");
      if (url) url.value = "";  // a file replaces a URL typed before: the server takes one or the other
      showPreview(card, URL.createObjectURL(target.files[0]));
      frameChanged(card, measureFile(target.files[0]).catch(function () {
        return measurePreview(card.querySelector("[data-preview-img]"));
      }));
    }
    if (target.matches("[data-frame-url]")) {
      var value = target.value.trim();
      // A data URI is the visitor's own bytes; an https URL is not loaded: the page stays same-origin.
      if (/^data:image\//i.test(value)) {
        showPreview(card, value);
        frameChanged(card, measurePreview(card.querySelector("[data-preview-img]")));
      }
    }
  });

  document.addEventListener("input", function (event) {
    var form = event.target.closest("#task-form");
    if (!form) return;
    var field = event.target.closest("[data-field]");
    if (field && !event.target.matches("[type=file]")) clearFieldErrors(form, field.dataset.field);
    if (event.target.matches("[data-prompt]")) updatePromptCount(form);
  });

  document.addEventListener("click", function (event) {
    var roll = event.target.closest("[data-roll-seed]");
    if (roll) {
      var input = roll.closest("form").querySelector("#seed");
      var value = new Uint32Array(1);
      window.crypto.getRandomValues(value);
      input.value = String(value[0]);
      input.dispatchEvent(new Event("input", { bubbles: true }));
      return;
    }
    var clear = event.target.closest("[data-frame-clear]");
    if (clear) {
      clearCard(clear.closest("[data-drop-zone]"));
      return;
    }
    var link = event.target.closest("[data-error-summary] a[href^='#']");
    if (link) {
      var node = focusTarget(link.getAttribute("href").slice(1));
      if (node) {
        event.preventDefault();
        node.focus({ preventScroll: true });
        node.scrollIntoView({ block: "center" });
      }
      return;
    }
    var dismiss = event.target.closest("[data-dismiss-sim-banner]");
    if (dismiss) {
      remember(SIM_BANNER_KEY);
      dismiss.closest("[data-sim-banner]").hidden = true;
    }
  });

  document.addEventListener("dragover", function (event) {
    var card = event.target.closest && event.target.closest("[data-drop-zone]");
    if (!card || card.disabled) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    card.classList.add("drag-over");
  });
  document.addEventListener("dragleave", function (event) {
    var card = event.target.closest && event.target.closest("[data-drop-zone]");
    if (card && !card.contains(event.relatedTarget)) card.classList.remove("drag-over");
  });
  document.addEventListener("drop", function (event) {
    var card = event.target.closest && event.target.closest("[data-drop-zone]");
    if (!card) return;
    event.preventDefault();  // never let the browser navigate away to the dropped file
    card.classList.remove("drag-over");
    var file = imageFile(event.dataTransfer && event.dataTransfer.files);
    if (file && setCardFile(card, file)) card.querySelector("[data-frame-file]").focus({ preventScroll: true });
  });

  document.addEventListener("paste", function (event) {
    var form = document.getElementById("task-form");
    var file = form && imageFile(event.clipboardData && event.clipboardData.files);
    if (!file) return;  // text goes where it was pasted, as usual
    var card = pasteTarget(form);
    if (card && setCardFile(card, file)) event.preventDefault();
  });

  document.addEventListener("htmx:beforeSend", function (event) {
    if (event.target.id === "task-form") resetProgress(event.target);
  });
  document.addEventListener("htmx:xhr:progress", function (event) {
    if (event.target.id === "task-form") showProgress(event.target, event.detail);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target;
    if (form.id === "task-form" && !(event.detail.xhr && event.detail.xhr.getResponseHeader("HX-Redirect"))) {
      resetProgress(form);
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!event.detail.shouldSwap || !target || target.id !== "task-form") return;
    state.keptPreviews = {};
    target.querySelectorAll("[data-drop-zone]").forEach(function (card) {
      var img = card.querySelector("[data-preview-img]");
      var src = img && img.getAttribute("src");
      var file = card.querySelector("[data-frame-file]");
      if (src && src.indexOf("blob:") === 0 && file && file.files && file.files.length) {
        state.keptPreviews[card.dataset.position] = src;  // shown again by its message if refused
      } else if (img) {
        forget(src);
      }
    });
  });

  // After a rejected submit: a refused upload keeps its preview by its message, the messages come into view.
  function afterFormSwap(form) {
    Object.keys(state.keptPreviews).forEach(function (position) {
      var src = state.keptPreviews[position];
      var card = form.querySelector('[data-position="' + position + '"]');
      var img = card && card.querySelector("[data-preview-img]");
      if (card && img && !img.getAttribute("src") && card.classList.contains("has-error")) {
        showPreview(card, src);
        card.classList.add("frame-rejected");
      } else {
        forget(src);
      }
    });
    state.keptPreviews = {};
    var first = form.querySelector("#first_frame-fieldset [data-preview-img]");
    if (first && first.getAttribute("src")) frameChanged(first.closest("[data-drop-zone]"), measurePreview(first));
    showMessages(form);
  }

  function init(event) {
    var swapped = event && event.type === "htmx:afterSettle" ? event.target : null;
    var form = document.getElementById("task-form");
    if (form) {
      updatePromptCount(form);
      if (swapped === form) afterFormSwap(form);
      else if (event && event.type === "DOMContentLoaded") {
        state.ratioTouched = form.dataset.ratioPreset === "true";
        var first = form.querySelector("#first_frame-fieldset [data-preview-img]");
        if (first && first.getAttribute("src")) {
          frameChanged(first.closest("[data-drop-zone]"), measurePreview(first));
        }
        var summary = form.querySelector("[data-error-summary]");
        if (summary && document.activeElement === document.body) showMessages(form);
      }
    }
    var banner = document.querySelector("[data-sim-banner]");
    if (banner && remembered(SIM_BANNER_KEY)) banner.hidden = true;
    localizeTimes(swapped || document);
    announceStatus();
    tickElapsed();
  }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
})();
