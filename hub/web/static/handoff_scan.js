// The counter hand-off page's camera. Where the browser has BarcodeDetector and a camera, the "scan" button
// appears: the camera reads the phone's GYH1: codes one after another (each says which of how many it is),
// and once every code of one hand-off is read their texts go through the page's ordinary form, exactly as if
// pasted. Otherwise (or if the camera cannot be opened) nothing changes: the official uploads pictures of the
// codes or pastes their texts, and the server reads them (zxing-cpp). No library is fetched: the detector is
// the browser's own.
(function () {
  'use strict';

  var verdict = document.getElementById('verdict');
  if (verdict) verdict.focus();

  var form = document.getElementById('handoff-form');
  var codes = document.getElementById('codes');
  var images = document.getElementById('images');
  var scan = document.getElementById('handoff-scan');
  var view = document.getElementById('handoff-scan-view');
  var video = document.getElementById('handoff-scan-video');
  var startButton = document.getElementById('handoff-scan-start');
  var stopButton = document.getElementById('handoff-scan-stop');
  var status = document.getElementById('handoff-scan-status');
  if (!form || !codes || !scan || !video) return;
  if (!('BarcodeDetector' in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;

  var stream = null;
  var handoff = null; // the id of the hand-off being read (codes of another are ignored)
  var parts = {}; // index -> code text
  var count = 0;

  function say(text) { status.textContent = text || ''; }

  function progress() {
    var have = Object.keys(parts).length;
    say(scan.getAttribute('data-msg-progress').replace('{have}', have).replace('{count}', count));
    return have;
  }

  function detector() {
    var formats = window.BarcodeDetector.getSupportedFormats
      ? window.BarcodeDetector.getSupportedFormats() : Promise.resolve(['qr_code']);
    return formats.then(function (list) {
      return list.indexOf('qr_code') < 0 ? null : new window.BarcodeDetector({ formats: ['qr_code'] });
    }).catch(function () { return null; });
  }

  // GYH1:<id>:<index>:<count>:<part>
  function keep(text) {
    var fields = String(text || '').trim().split(':');
    if (fields.length !== 5 || fields[0] !== 'GYH1') return false;
    var index = parseInt(fields[2], 10);
    var total = parseInt(fields[3], 10);
    // at most MAX_CHUNKS codes (hub/applications/handoff.py)
    if (!(index >= 1 && total >= 1 && index <= total && total <= 12)) return false;
    if (handoff !== fields[1]) { handoff = fields[1]; parts = {}; count = total; }
    parts[index] = fields.join(':');
    return true;
  }

  function stopCamera() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    view.hidden = true;
    startButton.hidden = false;
  }

  function finish() {
    stopCamera();
    say(scan.getAttribute('data-msg-done'));
    var ordered = [];
    for (var i = 1; i <= count; i += 1) ordered.push(parts[i]);
    codes.value = ordered.join('\n');
    if (images) images.value = '';
    form.submit();
  }

  function look(found) {
    if (!stream) return;
    found.detect(video).then(function (seen) {
      if (!stream) return;
      var changed = false;
      (seen || []).forEach(function (code) { changed = keep(code.rawValue) || changed; });
      if (changed && progress() === count) return finish();
      setTimeout(function () { look(found); }, 200);
    }, function () { setTimeout(function () { look(found); }, 400); });
  }

  detector().then(function (found) {
    if (!found) return;
    scan.hidden = false;
    startButton.addEventListener('click', function () {
      navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false })
        .then(function (media) {
          stream = media;
          video.srcObject = media;
          view.hidden = false;
          startButton.hidden = true;
          handoff = null; parts = {}; count = 0;
          say(scan.getAttribute('data-msg-looking'));
          return video.play().then(function () { look(found); });
        })
        .catch(function () { stopCamera(); say(scan.getAttribute('data-msg-failed')); });
    });
    stopButton.addEventListener('click', function () { stopCamera(); say(''); startButton.focus(); });
  });
})();
