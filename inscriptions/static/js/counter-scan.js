/* Optional: fill the counter's "paper form code" box by scanning the form's QR code with a
   webcam. Only where the browser has the BarcodeDetector API (Chromium on some platforms) and a
   camera; elsewhere the button stays hidden and the agent types the code printed under the QR
   code. The QR payload is sent as is: the server checks its signature. */
(function () {
  "use strict";

  var form = document.querySelector("form[data-scan-form]");
  if (!form || !("BarcodeDetector" in window) || !navigator.mediaDevices ||
      !navigator.mediaDevices.getUserMedia) {
    return;
  }
  var box = form.querySelector("[data-scan]");
  var start = form.querySelector("[data-scan-start]");
  var video = form.querySelector("[data-scan-video]");
  var status = form.querySelector("[data-scan-status]");
  var input = form.querySelector("input[name=code]");
  if (!box || !start || !video || !status || !input) {
    return;
  }

  var detector;
  try {
    detector = new window.BarcodeDetector({formats: ["qr_code"]});
  } catch (err) {
    return;
  }
  if (window.BarcodeDetector.getSupportedFormats) {
    window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") !== -1) {
        box.hidden = false;
      }
    });
  } else {
    box.hidden = false;
  }

  var stream = null;

  function stop() {
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
    video.hidden = true;
    start.disabled = false;
  }

  function scan() {
    if (!stream) {
      return;
    }
    detector.detect(video).then(function (codes) {
      var found = codes.filter(function (code) { return code.rawValue; })[0];
      if (found) {
        input.value = found.rawValue;
        status.textContent = start.getAttribute("data-found") || "";
        stop();
        form.submit();
        return;
      }
      window.setTimeout(scan, 200);
    }).catch(function () {
      window.setTimeout(scan, 500);
    });
  }

  start.addEventListener("click", function () {
    start.disabled = true;
    status.textContent = start.getAttribute("data-starting") || "";
    navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false})
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        video.hidden = false;
        return video.play();
      })
      .then(function () {
        status.textContent = start.getAttribute("data-scanning") || "";
        scan();
      })
      .catch(function () {
        status.textContent = start.getAttribute("data-denied") || "";
        stop();
      });
  });
})();
