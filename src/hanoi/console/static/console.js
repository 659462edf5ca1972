/* Hanoi Exchange console: small progressive enhancements, no framework, no eval, no inline
   code (the Content-Security-Policy refuses them). Every page works without this file. */
(function () {
  "use strict";

  /* Compose: ask the node for every problem of the form as it stands, show each beside its
     field. The answer comes from the same validator as `hanoi requests validate`. */
  function setUpCompose(form) {
    var url = form.getAttribute("data-check");
    var token = form.querySelector("input[name=csrf_token]").value;
    var summary = document.getElementById("check-summary");
    var timer = null;
    var sent = 0;

    function show(problems) {
      var lists = form.querySelectorAll("ul.field-problems");
      var byField = {};
      problems.forEach(function (p) {
        var key = document.getElementById("problems-" + p.field) ? p.field : "";
        (byField[key] = byField[key] || []).push(p);
      });
      lists.forEach(function (list) {
        var field = list.getAttribute("data-field");
        var mine = byField[field] || [];
        list.textContent = "";
        mine.forEach(function (p) {
          var li = document.createElement("li");
          li.textContent = (field ? "" : p.field + ": ") + p.message + (p.citation ? " (" + p.citation + ")" : "");
          list.appendChild(li);
        });
        var box = list.closest(".field");
        if (box) { box.classList.toggle("has-problems", mine.length > 0); }
      });
      if (summary) {
        summary.textContent = problems.length === 0
          ? (summary.getAttribute("data-ok") || "No problem found.")
          : problems.length + " " + (summary.getAttribute("data-problems") || "problem(s) to fix.");
      }
    }

    function check() {
      var mine = ++sent;
      var body = new FormData(form);
      fetch(url, {method: "POST", body: body, credentials: "same-origin",
                  headers: {"X-CSRF-Token": token, "Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (answer) { if (answer && mine === sent) { show(answer.problems || []); } })
        .catch(function () { /* the server checks again on submit */ });
    }

    form.addEventListener("input", function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(check, 300);
    });
    form.addEventListener("change", function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(check, 50);
    });
  }

  /* Deadline board: count the time left down every 30 seconds. */
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) { return; }
      var left = Math.round((due - now) / 1000);
      var abs = Math.abs(left);
      var text;
      if (el.hasAttribute("data-hours") || abs < 2 * 86400) {
        var h = Math.floor(abs / 3600), m = Math.floor((abs % 3600) / 60);
        text = h + " h " + (m < 10 ? "0" : "") + m + " min";
      } else {
        text = Math.floor(abs / 86400) + " " + (el.getAttribute("data-days") || "days");
      }
      var over = el.getAttribute("data-overdue") || "overdue by";
      el.textContent = left < 0 ? over + " " + text : text;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("compose");
    if (form) { setUpCompose(form); }
    if (document.querySelector(".countdown[data-due]")) { setInterval(tick, 30000); }
  });
})();
