// Catalogue "near me" (fills lat/lng from the browser's location and submits).
(function () {
  "use strict";
  var near = document.getElementById("near-me");
  if (near && navigator.geolocation) {
    near.addEventListener("click", function () {
      var status = document.getElementById("near-status");
      near.disabled = true;
      navigator.geolocation.getCurrentPosition(
        function (pos) {
          document.getElementById("near-lat").value = pos.coords.latitude.toFixed(6);
          document.getElementById("near-lng").value = pos.coords.longitude.toFixed(6);
          document.getElementById("catalogue-filters").submit();
        },
        function () {
          near.disabled = false;
          if (status) {
            status.textContent = near.getAttribute("data-error");
            status.classList.remove("hidden");
          }
        },
        { enableHighAccuracy: false, timeout: 10000, maximumAge: 300000 }
      );
    });
  } else if (near) {
    near.classList.add("hidden");
  }
})();
