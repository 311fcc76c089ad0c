// The documents page's upload: each chosen file is sent on its own, with a progress bar and then its
// outcome (or the server's reason) on its own line; the listing is read again once all are done.
// Every text from a file or the server is set as text, never as HTML.
(function () {
  "use strict";
  var form = document.getElementById("upload");
  if (!form) return;
  var results = document.getElementById("upload-results");

  function line(file) {
    var item = document.createElement("li");
    item.className = "upload-result sending";
    item.dataset.name = file.name;
    var name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    var outcome = document.createElement("span");
    outcome.className = "outcome";
    outcome.textContent = "uploading…";
    item.append(name, bar, outcome);
    results.append(item);
    return { item: item, bar: bar, outcome: outcome };
  }

  function said(shown, status, body) {
    shown.bar.value = 1;
    var kept = body && body.files && body.files[0];
    if (status === 200 && kept) {
      shown.item.className = "upload-result " + kept.outcome;
      shown.outcome.textContent = kept.outcome === "failed" ? "failed: " + kept.reason
        : kept.outcome + ", " + kept.chunks + (kept.chunks === 1 ? " chunk" : " chunks")
          + (kept.name !== shown.item.dataset.name ? " (kept as " + kept.name + ")" : "")
          + (kept.reason ? " — " + kept.reason : "");
    } else {
      shown.item.className = "upload-result failed";
      var detail = body && typeof body.detail === "string" ? body.detail : "the server answered " + status;
      shown.outcome.textContent = "failed: " + detail;
    }
  }

  // What groundloop ingest says of a file over the limit; such a file is not sent at all.
  function tooLarge(file) {
    var limit = Number(form.dataset.limitBytes);
    if (!limit || file.size <= limit) return null;
    return "too large (" + (file.size / 1e6).toFixed(1) + " MB; the limit is " + (limit / 1e6).toFixed(1) + " MB)";
  }

  function send(file, groups) {
    var shown = line(file);
    var refused = tooLarge(file);
    if (refused) {
      said(shown, 200, { files: [{ name: file.name, outcome: "failed", reason: refused }] });
      return Promise.resolve();
    }
    return new Promise(function (done) {
      var data = new FormData();
      data.append("files", file, file.name);
      groups.forEach(function (group) { data.append("groups", group); });
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("Accept", "application/json");
      request.upload.onprogress = function (event) {
        if (event.lengthComputable) shown.bar.value = event.loaded / event.total;
      };
      request.upload.onload = function () { shown.outcome.textContent = "indexing…"; };
      request.onload = function () {
        var body = null;
        try { body = JSON.parse(request.responseText); } catch (error) { body = null; }
        said(shown, request.status, body);
        done();
      };
      request.onerror = function () { said(shown, 0, { detail: "the server could not be reached" }); done(); };
      request.send(data);
    });
  }

  function reload() {
    return fetch(window.location.pathname, { headers: { Accept: "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ["listing", "totals"].forEach(function (id) {
          var now = document.getElementById(id), then = fresh.getElementById(id);
          if (now && then) now.replaceWith(document.adoptNode(then));
        });
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var files = Array.prototype.slice.call(form.querySelector("input[type=file]").files);
    var groups = Array.prototype.map.call(form.querySelectorAll("input[name=groups]:checked"),
                                          function (box) { return box.value; });
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    results.textContent = "";
    files.reduce(function (previous, file) {
      return previous.then(function () { return send(file, groups); });
    }, Promise.resolve()).then(reload).then(function () {
      button.disabled = false;
      form.reset();
      form.querySelectorAll("input[name=groups][value=everyone]").forEach(function (box) { box.checked = true; });
    });
  });
})();
