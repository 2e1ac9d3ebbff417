/* A pending application's page: ask the server, lightly, whether it is decided, and reload the
   page once it is. Without this script the page refreshes itself (meta refresh in <noscript>). */
(function () {
  "use strict";
  var box = document.getElementById("application-state");
  if (!box || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-state-url");
  // At an opening every waiting family polls: ask soon (most applications are decided within
  // seconds), then less and less often, each page at its own moment (jitter), so thousands of
  // waiting pages never add up to more requests than the sends themselves.
  var delay = 1500;

  function later() {
    window.setTimeout(poll, delay * (0.8 + Math.random() * 0.4));
    delay = Math.min(delay * 1.5, 15000);
  }

  function poll() {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.status !== "pending") {
          window.location.reload();
          return;
        }
        later();
      })
      .catch(later);
  }
  later();
}());
