// Live progress for long staff jobs (mailings, exports, statement batches), without a reload.
//
// Markup (backoffice/includes/progress.html):
//   <div data-progress-url="/…/progress/"> <progress> <span data-progress-label> … </div>
// The URL answers JSON {done, total, state, finished, label, state_label?}. We poll it every second until
// `finished` (a "progress:data" event on the box renders a payload got another way, e.g. from
// controls.js, and polls again if the job runs again), then un-hide the [data-progress-finished] elements of the nearest
// [data-progress-scope] ancestor (or of the page): a download link, the results; and stop. Errors keep polling with a slower pace: a deploy or a blip should not
// leave the page stuck.
(function () {
  "use strict";

  function render(box, data) {
    var bar = box.querySelector("progress");
    var label = box.querySelector("[data-progress-label]");
    var total = Math.max(data.total || 0, 0);
    var done = Math.min(Math.max(data.done || 0, 0), total || 0);
    var percent = total > 0 ? Math.floor((100 * done) / total) : (data.finished ? 100 : 0);
    if (bar) {
      bar.max = 100;
      bar.value = percent;
      bar.setAttribute("aria-valuenow", String(percent));
    }
    box.dataset.percent = String(percent);
    box.dataset.state = data.state || "";
    if (label) {
      label.textContent = percent + "% · " + done + " / " + total + (data.label ? " · " + data.label : "");
    }
    var scope = box.closest("[data-progress-scope]") || document;
    // A header elsewhere in the scope that names the state follows the same payload.
    if (data.state_label) {
      scope.querySelectorAll("[data-progress-state]").forEach(function (el) {
        el.textContent = data.state_label;
        el.dataset.state = data.state || "";
      });
    }
    // Buttons that apply in some states only (data-when="paused", controls.js).
    if (data.state) {
      scope.querySelectorAll("[data-when]").forEach(function (el) {
        el.hidden = el.dataset.when.split(" ").indexOf(data.state) === -1;
      });
    }
    if (!data.finished) delete box.dataset.finished;
    if (data.finished) {
      box.dataset.finished = "true";
      (box.closest("[data-progress-scope]") || document).querySelectorAll("[data-progress-finished]").forEach(function (el) {
        el.hidden = false;
      });
    }
  }

  function poll(box, delay) {
    box.polling = true;
    var asked = Date.now();
    fetch(box.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        // An answer asked for before a newer payload arrived (controls.js) is already stale.
        if (!(box.renderedAt > asked)) render(box, data);
        else data = { finished: false };
        if (!data.finished) window.setTimeout(function () { poll(box, 1000); }, 1000);
        else box.polling = false;
      })
      .catch(function () {
        window.setTimeout(function () { poll(box, Math.min(delay * 2, 10000)); }, delay);
      });
  }

  function start() {
    document.querySelectorAll("[data-progress-url]").forEach(function (box) {
      box.addEventListener("progress:data", function (event) {
        box.renderedAt = Date.now();
        render(box, event.detail);
        if (!event.detail.finished && !box.polling) poll(box, 1000);
      });
      poll(box, 1000);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
