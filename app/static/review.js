// The review item page's keyboard shortcuts (listed on the page): j / k next / previous answer,
// a approve, r reject, / search. Keys typed into a field are the field's; Escape leaves the field.
(function () {
  "use strict";
  function go(selector) { var link = document.querySelector(selector); if (link) window.location.href = link.href; }
  function submit(id) { var form = document.getElementById(id); if (form) form.requestSubmit(); }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || !document.querySelector("[data-shortcuts]")) return;
    var target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    var actions = {
      j: function () { go("a[rel=next]"); },
      k: function () { go("a[rel=prev]"); },
      a: function () { submit("approve"); },
      r: function () { submit("reject"); },
      "/": function () { var box = document.getElementById("q"); if (box) { box.focus(); box.select(); } }
    };
    if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
  });
})();
