// Progressive enhancement of the donate form: the page works without it (the server shows the
// extras and checks everything); this only keeps the shown extras and total in step with the
// donor's choices, picks "other amount" when typing, and offers only monthly-capable methods.
(function () {
  "use strict";
  var form = document.getElementById("donate-form");
  if (!form) { return; }
  var config = JSON.parse(form.dataset.config);
  var lang = document.documentElement.lang || "nl";
  var other = form.querySelector("input[name=other_amount]");
  var totalLine = document.getElementById("donate-total");

  // Same rules as donations.fees (rounded half up, then the smallest extra that covers it).
  function feeFor(amount, method) {
    var f = config.fees[method];
    return Math.floor((amount * f[0] + 5000) / 10000) + f[1];
  }
  function feeCoverExtra(amount, method) {
    var extra = feeFor(amount, method);
    while (amount + extra - feeFor(amount + extra, method) < amount) { extra += 1; }
    return extra;
  }
  // Same reading as donations.forms.parse_euros, for display only: the server decides.
  function parseEuros(text) {
    var value = text.replace(/[\s\u00a0\u202f€]/g, "").replace(/[.,]-$/, "");
    var plain = /^(\d+)(?:[.,](\d{1,2}))?$/.exec(value);
    if (plain) { return parseInt(plain[1], 10) * 100 + cents(plain[2]); }
    var grouped = /^(\d{1,3}(?:([.,])\d{3})+)(?:([.,])(\d{1,2}))?$/.exec(value);
    if (grouped && grouped[3] !== grouped[2]) {
      return parseInt(grouped[1].replace(/[.,]/g, ""), 10) * 100 + cents(grouped[4]);
    }
    return null;
  }
  function cents(decimals) { return decimals ? parseInt((decimals + "0").slice(0, 2), 10) : 0; }
  function euros(amount) {
    return new Intl.NumberFormat(lang === "nl" ? "nl-NL" : "en-IE",
      { style: "currency", currency: "EUR" }).format(amount / 100);
  }
  function checked(name) {
    var input = form.querySelector("input[name=" + name + "]:checked");
    return input ? input.value : "";
  }
  function amount() {
    var choice = checked("amount");
    if (choice && choice !== "other") { return parseInt(choice, 10); }
    return parseEuros(other.value || "");
  }

  function update() {
    var monthly = checked("frequency") === "monthly";
    form.querySelectorAll("input[name=method]").forEach(function (input) {
      var allowed = (monthly ? config.monthly_methods : config.one_off_methods).indexOf(input.value) >= 0;
      input.disabled = !allowed;
      input.closest("label").setAttribute("aria-disabled", allowed ? "false" : "true");
      if (!allowed && input.checked) { form.querySelector("input[name=method][value=ideal]").checked = true; }
    });
    var gift = amount();
    if (gift === null || gift < config.min || gift > config.max) { totalLine.hidden = true; return; }
    form.querySelector("#fee-extras .fee-for").textContent = euros(gift);
    form.querySelectorAll("#fee-extras [data-fee-key]").forEach(function (line) {
      var key = line.dataset.feeKey;
      line.querySelector(".fee-extra").textContent = euros(feeCoverExtra(gift, key === "monthly" ? "sepa_debit" : key));
    });
    var method = monthly ? "sepa_debit" : checked("method");
    var cover = form.querySelector("input[name=cover_fee]").checked && method;
    var total = gift + (cover ? feeCoverExtra(gift, method) : 0);
    var label = monthly ? totalLine.dataset.monthly : totalLine.dataset.once;
    totalLine.textContent = label.replace("{total}", euros(total));
    totalLine.hidden = false;
  }

  other.addEventListener("input", function () {
    if (other.value.trim()) { form.querySelector("input[name=amount][value=other]").checked = true; }
    update();
  });
  form.querySelectorAll("input[name=amount]").forEach(function (input) {
    input.addEventListener("change", function () {
      if (input.value !== "other") { other.value = ""; }  // one amount at a time
      update();
    });
  });
  form.addEventListener("change", update);
  update();
})();
