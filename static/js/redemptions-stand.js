// The QR stand's print button (no inline script: the CSP forbids it).
(function () {
  var print = document.getElementById("print-stand");
  if (print) {
    print.addEventListener("click", function () { window.print(); });
  }
})();
