// The QR detector shared by the counter's scanner and the event door: the browser's native
// BarcodeDetector where it reads QR codes, else the vendored ZXing polyfill (loaded only then, its
// wasm served from /static/, nothing from a CDN).
export async function makeDetector(vendorUrl, wasmUrl) {
  if ("BarcodeDetector" in window) {
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (formats.includes("qr_code")) return new window.BarcodeDetector({ formats: ["qr_code"] });
    } catch (error) {
      // fall through to the polyfill
    }
  }
  const polyfill = await import(vendorUrl);
  polyfill.prepareZXingModule({
    overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? wasmUrl : prefix + path) },
  });
  return new polyfill.BarcodeDetector({ formats: ["qr_code"] });
}
