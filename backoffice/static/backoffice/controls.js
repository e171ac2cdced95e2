// Buttons that change a running job (a mailing's Pause / Resume / Cancel) without a reload.
//
// Markup: <form data-live-controls action="…"> with submit buttons name="do" value="…" and
// data-when="state state" (the states each applies to), inside a [data-progress-scope] that
// also holds the live progress bar (progress.js). The form is posted with Accept:
// application/json; the answer is the progress payload plus {message, level}. The payload goes
// to the bar (a "progress:data" event), which updates the state header, the bar and every
// [data-when] button in the scope, as each poll does; the message goes to [data-controls-message].
// Without script the form posts normally and the page comes back with the same message.
(function () {
  "use strict";

  function live(form) {
    var scope = form.closest("[data-progress-scope]") || document;
    var message = scope.querySelector("[data-controls-message]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter;
      var body = new FormData(form);
      if (button && button.name) body.append(button.name, button.value);
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      fetch(form.action, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.json().then(function (data) { return { ok: response.ok, data: data }; });
        })
        .then(function (answer) {
          var box = scope.querySelector("[data-progress-url]");
          if (box) box.dispatchEvent(new CustomEvent("progress:data", { detail: answer.data }));
          if (message) {
            message.textContent = answer.data.message || "";
            message.dataset.level = answer.data.level || "";
          }
        })
        .catch(function () {
          // No answer we can read (a network error, a login page): post it the plain way.
          if (button && button.name) {
            var field = document.createElement("input");
            field.type = "hidden";
            field.name = button.name;
            field.value = button.value;
            form.appendChild(field);
          }
          HTMLFormElement.prototype.submit.call(form);
        })
        .finally(function () {
          buttons.forEach(function (b) { b.disabled = false; });
        });
    });
  }

  function start() {
    document.querySelectorAll("form[data-live-controls]").forEach(live);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
