// Merchant dashboard: switching the attribution model reloads the figures at once; the period
// fields keep "from" before "to". Everything works without this script (plain GET form).
(function () {
  "use strict";
  var form = document.getElementById("dash-filter");
  if (!form) return;
  var start = form.querySelector("input[name=from]");
  var end = form.querySelector("input[name=to]");
  function keepOrder() {
    if (start.value) end.min = start.value;
    if (end.value) start.max = end.value;
  }
  start.addEventListener("change", keepOrder);
  end.addEventListener("change", keepOrder);
  keepOrder();
  var selects = form.querySelectorAll(".dash-autosubmit");
  for (var i = 0; i < selects.length; i++) {
    selects[i].addEventListener("change", function () {
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.submit();
    });
  }
})();
