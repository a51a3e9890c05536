// The gallery, the share box and times: all optional, the pages work without it.
// - <time data-local datetime="…Z"> shows the viewer's local time (the UTC text stays as the title).
// - video[data-hover-play] plays muted while a mouse is over it; touch uses the video's own controls.
// - [data-copy="#id"] copies that field's value and says so.
(function () {
  "use strict";

  function localiseTimes(root) {
    var lang = document.documentElement.lang || undefined;
    var format;
    try {
      format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
    } catch (e) {
      return;
    }
    root.querySelectorAll("time[data-local]").forEach(function (node) {
      if (node.dataset.localised) return;
      var moment = new Date(node.getAttribute("datetime"));
      if (isNaN(moment.getTime())) return;
      if (!node.title) node.title = node.textContent.trim();
      node.textContent = format.format(moment);
      node.dataset.localised = "true";
    });
  }

  function hoverVideo(event) {
    if (event.pointerType && event.pointerType !== "mouse") return null;
    return event.target.closest && event.target.closest("video[data-hover-play]");
  }

  document.addEventListener("pointerover", function (event) {
    var video = hoverVideo(event);
    if (!video || !video.paused || video.contains(event.relatedTarget)) return;
    video.dataset.hoverStarted = "true";
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () { /* left before it could start */ });
  });

  document.addEventListener("pointerout", function (event) {
    var video = hoverVideo(event);
    if (!video || video.contains(event.relatedTarget) || video.dataset.hoverStarted !== "true") return;
    delete video.dataset.hoverStarted;
    video.pause();
  });

  // A click on the controls makes the video the viewer's: hovering away no longer pauses it.
  document.addEventListener("click", function (event) {
    var video = event.target.closest && event.target.closest("video[data-hover-play]");
    if (video) delete video.dataset.hoverStarted;
  });

  // One video at a time: starting one pauses the others on the page.
  document.addEventListener("play", function (event) {
    document.querySelectorAll("video[data-hover-play]").forEach(function (other) {
      if (other !== event.target && !other.paused) other.pause();
    });
  }, true);

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.dataset.copy);
    var status = button.closest("section") && button.closest("section").querySelector("[data-copy-status]");
    if (!field) return;
    function done() { if (status) status.textContent = button.dataset.copied || ""; }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
    } else {
      field.select();
      done();
    }
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) event.target.select();
  });

  function init(root) {
    localiseTimes(root || document);
    (root || document).querySelectorAll("[data-copy][hidden]").forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt); });
})();
