// groundloop's additions to Chainlit's page (a file, so a strict Content-Security-Policy allows it).
(function () {
  "use strict";
  var BACK = "groundloop_after_sign_in"; // set by the review pages when they send a signed-out browser here

  // 1. Back to the review page that asked for a sign-in, once signed in.
  function cookie(name) {
    var found = document.cookie.split("; ").find(function (c) { return c.indexOf(name + "=") === 0; });
    return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
  }
  function goBackWhenSignedIn() {
    var target = cookie(BACK);
    if (!target) return;
    if (!/^\/review(\/|\?|$)/.test(target)) { // only our own review pages
      document.cookie = BACK + "=; Max-Age=0; Path=/; SameSite=Lax";
      return;
    }
    if (/\/login\/?$/.test(window.location.pathname)) return;
    document.cookie = BACK + "=; Max-Age=0; Path=/; SameSite=Lax";
    window.location.replace(target);
  }

  // 2. A wrong password is said once, in plain words, on the form; Chainlit's raw
  //    "Unauthorized: credentialssignin" notice is not shown beside it.
  function hideRawSignInErrors() {
    document.querySelectorAll("[data-sonner-toast]").forEach(function (toast) {
      if (/credentialssignin/i.test(toast.textContent || "")) toast.style.display = "none";
    });
  }

  function check() { goBackWhenSignedIn(); hideRawSignInErrors(); }
  new MutationObserver(check).observe(document.documentElement, { childList: true, subtree: true });
  check();
})();
