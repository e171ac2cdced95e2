// The thank-you page while a payment waits for the bank: every 3 seconds ask the server for
// this page again (the URL counts the checks; the server stops offering one after a while) and
// put its new section in place of the old, without reloading the page. A reload on a timer (a
// meta refresh) would move focus and the reading position of a screen reader (WCAG 2.2.1);
// the status line is a role="status" region, so the change is announced instead.
(function () {
  "use strict";

  function check(section) {
    fetch(section.dataset.refreshUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.querySelector("section.thanks");
        if (!fresh) return;
        section.replaceWith(fresh);
        document.title = page.title;
        schedule(fresh);
      })
      .catch(function () {
        // Offline for a moment: the link on the page still checks again.
      });
  }

  function schedule(section) {
    if (section.dataset.refreshUrl) window.setTimeout(function () { check(section); }, 3000);
  }

  var section = document.querySelector("section.thanks[data-refresh-url]");
  if (section) schedule(section);
})();
