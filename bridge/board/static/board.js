// Keeps a board page current without reloading it: polls the page's small version
// endpoint and, when the version changes, fetches the page again and swaps in its <main>.
// Loaded as a file (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !main.dataset.versionUrl) { return; }
  var version = main.dataset.version;
  var busy = false;
  function refresh() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        if (fresh) {
          main.innerHTML = fresh.innerHTML;
          version = fresh.dataset.version;
          main.dataset.version = version;
        }
      });
  }
  function poll() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(main.dataset.versionUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data && data.version !== version) { return refresh(); } })
      .catch(function () { /* the server restarts or the network blips: try again next tick */ })
      .then(function () { busy = false; });
  }
  window.setInterval(poll, Number(main.dataset.pollMs || 2000));
})();
