// Members pages: the auto-renew switch saves itself when toggled (the Save button stays for no-JS).
(function () {
  "use strict";
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.querySelectorAll(".js-hide").forEach(function (el) { el.classList.add("hidden"); });
    form.querySelectorAll("input[type=checkbox]").forEach(function (box) {
      box.addEventListener("change", function () { form.submit(); });
    });
  });
})();
