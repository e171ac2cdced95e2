// Accessible names the admin's own widgets leave out (found by axe-core in the crawl,
// tests/e2e/test_crawl.py), added in the browser because the markup comes from Django, unfold,
// select2 and SelectFilter2:
// - a field in a table row (a tabular inline's cells, a list's editable column) has no <label>:
//   it is named after its column's header;
// - a select2 box (search-as-you-type) is named after the label of the select it replaces;
// - SelectFilter2's search icon carries an aria-label on a plain <span>: it becomes an image.
// Runs at start and again whenever rows or widgets are added (inline "add another", select2).
(function () {
  "use strict";

  function named(el) {
    return (el.labels && el.labels.length) || el.getAttribute("aria-label") ||
      el.getAttribute("aria-labelledby") || el.getAttribute("title");
  }

  function nameTableFields() {
    document.querySelectorAll("td input, td select, td textarea").forEach(function (el) {
      if (el.type === "hidden" || named(el)) return;
      var cell = el.closest("td");
      var table = el.closest("table");
      var head = table && table.tHead && table.tHead.rows[0];
      var header = head && head.cells[cell.cellIndex];
      var text = header && header.textContent.trim();
      if (text) el.setAttribute("aria-label", text);
    });
  }

  function nameSelect2() {
    document.querySelectorAll(".select2-selection[role=combobox]").forEach(function (box) {
      if (box.dataset.named) return;
      var container = box.closest(".select2");
      var select = container && container.previousElementSibling;
      if (!select || select.tagName !== "SELECT") return;
      var label = select.labels && select.labels[0];
      var text = label ? label.textContent.trim() : select.getAttribute("aria-label");
      if (!text) return;
      if (label && !label.id) label.id = select.id + "-label";
      var rendered = box.querySelector(".select2-selection__rendered");
      if (label) {
        box.setAttribute("aria-labelledby", label.id + (rendered ? " " + rendered.id : ""));
      } else {
        box.setAttribute("aria-label", text);
      }
      if (rendered) rendered.setAttribute("aria-label", text);
      box.dataset.named = "true";
    });
  }

  function fixSearchIcons() {
    document.querySelectorAll(".search-label-icon[aria-label]:not([role])").forEach(function (el) {
      el.setAttribute("role", "img");
    });
  }

  function fix() {
    nameTableFields();
    nameSelect2();
    fixSearchIcons();
  }

  function start() {
    fix();
    new MutationObserver(fix).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
