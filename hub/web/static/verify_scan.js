// The verify page's QR reading. Where the browser has BarcodeDetector, the camera button appears and a chosen
// picture is read in the browser; the QR text then goes through the ordinary text form. Otherwise the picture
// is posted as is and the server reads it (zxing-cpp). Without this script every form still works.
(function () {
  'use strict';

  var verdict = document.getElementById('verdict');
  if (verdict) verdict.focus(); // the answer first, for keyboard and screen-reader users

  var textForm = document.getElementById('text-form');
  var textarea = document.getElementById('qr_payload');
  var uploadForm = document.getElementById('upload-form');
  var fileInput = document.getElementById('qr_image');
  var scan = document.getElementById('scan');
  var view = document.getElementById('scan-view');
  var video = document.getElementById('scan-video');
  var startButton = document.getElementById('scan-start');
  var stopButton = document.getElementById('scan-stop');
  var status = document.getElementById('scan-status');
  if (!textForm || !uploadForm || !fileInput || !scan) return;
  var maxBytes = Number(uploadForm.getAttribute('data-max-bytes'));
  var detecting = null;
  var stream = null;

  document.getElementById('image-auto').hidden = false;

  function say(text) { status.textContent = text || ''; }

  function detector() {
    if (!('BarcodeDetector' in window)) return Promise.resolve(null);
    if (!detecting) {
      var formats = window.BarcodeDetector.getSupportedFormats
        ? window.BarcodeDetector.getSupportedFormats() : Promise.resolve(['qr_code']);
      detecting = formats.then(function (list) {
        return list.indexOf('qr_code') < 0 ? null : new window.BarcodeDetector({ formats: ['qr_code'] });
      }).catch(function () { return null; });
    }
    return detecting;
  }

  function pick(codes) {
    var texts = (codes || []).map(function (c) { return c.rawValue; }).filter(Boolean);
    return texts.filter(function (s) { return s.trim().indexOf('GY1:') === 0; })[0] || texts[0] || null;
  }

  function submitText(text) {
    textarea.value = text;
    fileInput.value = '';
    textForm.submit();
  }

  // --- camera ---
  function stopCamera() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    view.hidden = true;
    startButton.hidden = false;
  }

  function look(found) {
    if (!stream) return;
    found.detect(video).then(pick).then(function (text) {
      if (!stream) return;
      if (text) {
        stopCamera();
        say(scan.getAttribute('data-msg-found'));
        submitText(text);
      } else {
        setTimeout(function () { look(found); }, 200);
      }
    }, function () { setTimeout(function () { look(found); }, 400); });
  }

  detector().then(function (found) {
    if (!found || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    scan.hidden = false;
    startButton.addEventListener('click', function () {
      navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false })
        .then(function (media) {
          stream = media;
          video.srcObject = media;
          view.hidden = false;
          startButton.hidden = true;
          say(scan.getAttribute('data-msg-looking'));
          return video.play().then(function () { look(found); });
        })
        .catch(function () { stopCamera(); say(scan.getAttribute('data-msg-failed')); });
    });
    stopButton.addEventListener('click', function () { stopCamera(); say(''); startButton.focus(); });
  });

  // --- a picture ---
  function shrink(file) { // a large photo, redrawn at most 2400 px wide as JPEG, to stay under the cap
    if (!window.createImageBitmap || !window.DataTransfer) return Promise.resolve(false);
    return createImageBitmap(file).then(function (bitmap) {
      var scale = Math.min(1, 2400 / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement('canvas');
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) { canvas.toBlob(resolve, 'image/jpeg', 0.9); });
    }).then(function (blob) {
      if (!blob || blob.size > maxBytes) return false;
      var transfer = new DataTransfer();
      transfer.items.add(new File([blob], 'qr.jpg', { type: 'image/jpeg' }));
      fileInput.files = transfer.files;
      return true;
    }).catch(function () { return false; });
  }

  function readPicture() {
    var file = fileInput.files && fileInput.files[0];
    if (!file) return;
    say(uploadForm.getAttribute('data-msg-reading'));
    detector().then(function (found) {
      if (!found || !window.createImageBitmap) return null;
      return createImageBitmap(file).then(function (bitmap) { return found.detect(bitmap); }).then(pick);
    }).catch(function () { return null; }).then(function (text) {
      if (text) return submitText(text);
      if (file.size <= maxBytes) return uploadForm.submit();
      return shrink(file).then(function (ok) {
        if (ok) uploadForm.submit();
        else say(uploadForm.getAttribute('data-msg-too-large'));
      });
    });
  }

  fileInput.addEventListener('change', readPicture);
  uploadForm.addEventListener('submit', function (event) {
    if (!fileInput.files || !fileInput.files[0]) return; // the server says what is missing
    event.preventDefault();
    readPicture();
  });
})();
