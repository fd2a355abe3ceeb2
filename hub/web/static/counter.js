// Polls the consent session and reloads the counter page when the resident has decided.
(function () {
  "use strict";
  var el = document.getElementById("status");
  if (!el || el.getAttribute("data-status") !== "pending") { return; }
  var url = el.getAttribute("data-status-url");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body && body.status !== "pending") { window.location.reload(); return; }
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1500);
})();
