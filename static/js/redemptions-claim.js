// The member's live confirmation screen: polls the claim every 2 s until staff decide or it expires.
(function () {
  const root = document.getElementById("rc-live");
  if (!root) return;
  const status = document.getElementById("rc-live-status");
  const clock = document.getElementById("rc-live-clock");
  const labels = root.dataset;
  const expires = new Date(labels.expires).getTime();
  const final = new Set(["confirmed", "rejected", "expired", "cancelled"]);
  let state = root.className.match(/rc-live-(\w+)/)[1];

  function paint(next) {
    root.classList.remove(`rc-live-${state}`);
    state = next;
    root.classList.add(`rc-live-${state}`);
    const key = "label" + state.charAt(0).toUpperCase() + state.slice(1);
    status.textContent = labels[key] || state;
  }

  function tick() {
    const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
    clock.textContent = state === "pending" ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` : window.RedCardTime.clock(new Date(), { seconds: true });
  }

  async function poll() {
    try {
      const response = await fetch(labels.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) {
        const claim = await response.json();
        if (claim.status !== state) paint(claim.status);
      }
    } catch (error) {
      // keep showing the screen; try again
    }
    if (!final.has(state)) setTimeout(poll, 2000);
  }

  paint(state);
  tick();
  setInterval(tick, 1000);
  poll();
})();
