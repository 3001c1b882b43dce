// Runs first, before any other script: writes the page's Content-Security-Policy meta tag.
// The policy is `default-src 'self'`, widened only by the https origins the user allowed on this
// page (kept in this origin's localStorage by "Allow and reload"; a link cannot set them). A meta
// CSP cannot be relaxed once it is in force, so allowing a new origin reloads the page.
(function () {
  "use strict";
  var KEY = "clipsearch.allowedOrigins";
  var origins = [];
  try {
    var raw = JSON.parse(localStorage.getItem(KEY) || "[]");
    for (var i = 0; i < raw.length; i++) {
      var o = clipsearchOrigin(raw[i]);
      if (o && origins.indexOf(o) < 0) origins.push(o);
    }
  } catch (e) {
    origins = [];
  }
  var extra = origins.length ? " " + origins.join(" ") : "";
  var policy =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; " +
    "img-src 'self' blob: data:" + extra + "; connect-src 'self'" + extra + "; object-src 'none'; base-uri 'none'; form-action 'none'";
  var meta = document.createElement("meta");
  meta.httpEquiv = "Content-Security-Policy";
  meta.content = policy;
  document.head.appendChild(meta);
  window.clipsearchAllowedOrigins = origins;

  // An https origin exactly (scheme://host[:port]); anything else (paths, wildcards, http:) is refused.
  function clipsearchOrigin(s) {
    if (typeof s !== "string") return null;
    try {
      var u = new URL(s);
      if (u.protocol !== "https:" || u.origin === "null" || u.username || u.password) return null;
      return u.origin;
    } catch (e) {
      return null;
    }
  }
  window.clipsearchOrigin = clipsearchOrigin;
})();
