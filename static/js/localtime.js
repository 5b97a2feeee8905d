// Times rendered in the browser follow the page, not the browser: the page's language (<html lang>) and the
// zone the server rendered the page in (<html data-time-zone>), on a 24-hour clock. A scanner set to
// English in a Shanghai shop shows 23:30, never "11:30 PM" or the tablet's own zone.
(function () {
  const html = document.documentElement;
  const options = { timeZone: html.dataset.timeZone || "Asia/Shanghai", hourCycle: "h23" };
  const cache = new Map();

  function formatter(parts) {
    const key = parts.join(",");
    if (!cache.has(key)) {
      const wanted = { ...options };
      for (const part of parts) wanted[part] = "2-digit";
      cache.set(key, new Intl.DateTimeFormat(html.lang || "zh-Hans", wanted));
    }
    return cache.get(key);
  }

  window.RedCardTime = {
    // "23:30" (or "23:30:05" with seconds) in the page's zone.
    clock(value, { seconds = false } = {}) {
      const at = value instanceof Date ? value : new Date(value);
      return formatter(seconds ? ["hour", "minute", "second"] : ["hour", "minute"]).format(at);
    },
    zone: options.timeZone,
  };
})();
