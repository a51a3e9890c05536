// "Copy as code" on the task page: tabs over the three snippets and a copy button on each.
// Without JavaScript all three are shown one after another, and can be selected by hand.
(function () {
  "use strict";

  function select(box, tab) {
    box.querySelectorAll("[data-code-tab]").forEach(function (other) {
      var chosen = other === tab;
      other.setAttribute("aria-selected", chosen ? "true" : "false");
      other.tabIndex = chosen ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !chosen;
    });
  }

  function init(box) {
    if (box.dataset.codeTabsReady) return;
    box.dataset.codeTabsReady = "true";
    box.querySelector("[data-code-tablist]").hidden = false;
    box.querySelectorAll("[data-code-title]").forEach(function (title) { title.hidden = true; });
    box.querySelectorAll("[data-copy-code]").forEach(function (button) { button.hidden = false; });
    select(box, box.querySelector("[data-code-tab]"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http on a LAN address has no clipboard API: fall back to a selection and execCommand.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var done = false;
      try { done = document.execCommand("copy"); } catch (e) { done = false; }
      document.body.removeChild(area);
      if (done) resolve(); else reject(new Error("copy refused"));
    });
  }

  document.addEventListener("click", function (event) {
    var tab = event.target.closest("[data-code-tab]");
    if (tab) { select(tab.closest("[data-code-tabs]"), tab); return; }
    var button = event.target.closest("[data-copy-code]");
    if (!button) return;
    var box = button.closest("[data-code-tabs]");
    var status = box.querySelector("[data-code-copy-status]");
    var label = button.textContent;
    copyText(document.getElementById(button.dataset.copyCode).textContent).then(function () {
      button.textContent = button.dataset.copied;
      status.textContent = button.dataset.copied;
      window.setTimeout(function () { button.textContent = label; }, 1500);
    }, function () {
      status.textContent = button.dataset.copyFailed;
    });
  });

  // Arrow keys move between tabs, as in any tab list.
  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest("[data-code-tab]");
    if (!tab || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
    var tabs = Array.prototype.slice.call(tab.parentNode.querySelectorAll("[data-code-tab]"));
    var next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    select(tab.closest("[data-code-tabs]"), next);
    next.focus();
    event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-code-tabs]").forEach(init);
  });
})();
