// After django-otp-webauthn's register script has saved a new passkey, carry on server-side:
// the enrolment page hands out the recovery codes, the Security page shows the new passkey.
// A posted form (with its CSRF token) rather than a link: both follow-ups change something.
(function () {
  "use strict";
  document.addEventListener("otp_webauthn.register_complete", function () {
    var form = document.getElementById("passkey-registered-form");
    if (form) {
      form.submit();
    }
  });
})();
