// Member events: the countdown to the registration window (days, hours, minutes, seconds; 24-hour
// clock in the text the server rendered), and "nearest first" from the browser's position.
(function () {
  const pad = (n) => String(n).padStart(2, "0");
  function render(el) {
    const target = Date.parse(el.dataset.countdown);
    const value = el.querySelector(".countdown-value");
    if (Number.isNaN(target) || !value) return false;
    let left = Math.floor((target - Date.now()) / 1000);
    if (left <= 0) {
      el.textContent = el.dataset.done;
      return false;
    }
    const days = Math.floor(left / 86400);
    left -= days * 86400;
    const text = `${pad(Math.floor(left / 3600))}:${pad(Math.floor((left % 3600) / 60))}:${pad(left % 60)}`;
    value.textContent = days > 0 ? `${days}d ${text}` : text;
    return true;
  }
  const timers = Array.from(document.querySelectorAll("[data-countdown]"));
  const tick = () => {
    const alive = timers.filter(render);
    if (alive.length) setTimeout(tick, 1000);
  };
  if (timers.length) tick();

  const near = document.getElementById("ev-near");
  if (near && navigator.geolocation) {
    near.addEventListener("click", (event) => {
      event.preventDefault();
      navigator.geolocation.getCurrentPosition((pos) => {
        const { latitude, longitude } = pos.coords;
        window.location.href = `${near.dataset.url}?lat=${latitude.toFixed(5)}&lng=${longitude.toFixed(5)}`;
      });
    });
  } else if (near) {
    near.hidden = true;
  }
})();
