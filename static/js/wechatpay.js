// WeChat Pay inside WeChat (JSAPI): start the payment with the signed parameters the page carries, then go
// to our return page, which asks the gateway (the notification may still be on its way).
(function () {
  "use strict";
  var button = document.getElementById("wechatpay-start");
  if (!button) { return; }
  var d = button.dataset;
  function start() {
    if (typeof WeixinJSBridge === "undefined") { return; }
    WeixinJSBridge.invoke("getBrandWCPayRequest", {
      appId: d.appId, timeStamp: d.timeStamp, nonceStr: d.nonceStr,
      "package": d["package"], signType: d.signType, paySign: d.paySign
    }, function (result) {
      if (result && result.err_msg === "get_brand_wcpay_request:ok") { window.location.href = d.back; }
    });
  }
  button.addEventListener("click", start);
  if (typeof WeixinJSBridge === "undefined") {
    document.addEventListener("WeixinJSBridgeReady", start, false);
  } else {
    start();
  }
})();
