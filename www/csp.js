// Runs first, before any other script: writes the page's Content-Security-Policy meta tag.
// The policy is `default-src 'self'`, widened only by the origins the user allowed on this page
// (https, or http on this machine's loopback for a local S3 such as MinIO; kept in this origin's
// localStorage by "Allow and reload"; a link cannot set them). A meta CSP cannot be relaxed once
// it is in force, so allowing a new origin reloads the page. The package's workers start from
// `blob:` modules (`inheritCsp`), which inherit this policy: their image fetches obey
// `connect-src` too, hence `worker-src 'self' blob:`. Thumbnails of URL items are fetched
// (connect-src) and shown from blob: URLs, so `img-src` never needs a remote origin and a
// presigned URL never becomes an <img src> (nor an HTTP cache entry).
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
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; style-src 'self'; " +
    "img-src 'self' blob: data:; connect-src 'self'" + extra + "; object-src 'none'; base-uri 'none'; form-action 'none'";
  var meta = document.createElement("meta");
  meta.httpEquiv = "Content-Security-Policy";
  meta.content = policy;
  document.head.appendChild(meta);
  window.clipsearchAllowedOrigins = origins;

  // An origin exactly (scheme://host[:port]): https, or http on the loopback (127.0.0.1,
  // localhost, [::1]); anything else (paths, wildcards, other http hosts) is refused.
  function clipsearchOrigin(s) {
    if (typeof s !== "string") return null;
    try {
      var u = new URL(s);
      var loopback = u.hostname === "127.0.0.1" || u.hostname === "localhost" || u.hostname === "[::1]";
      var ok = u.protocol === "https:" || (u.protocol === "http:" && loopback);
      if (!ok || u.origin === "null" || u.username || u.password) return null;
      return u.origin;
    } catch (e) {
      return null;
    }
  }
  window.clipsearchOrigin = clipsearchOrigin;
})();
