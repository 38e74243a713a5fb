// wfcore web view: confirmations for dangerous forms, and live updates of a running
// workflow's page (its content is fetched again every second until the workflow finishes).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  var body = document.body;
  if (!body.hasAttribute("data-live") || body.hasAttribute("data-finished")) {
    return;
  }
  var content = document.getElementById("content");
  var last = content.innerHTML;
  function busy() {
    var active = document.activeElement;
    return active && /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(active.tagName);
  }
  function tick() {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("content");
        if (fresh && fresh.innerHTML !== last && !busy()) {
          last = fresh.innerHTML;
          content.innerHTML = last;
        }
        if (page.body.hasAttribute("data-finished")) {
          body.setAttribute("data-finished", "1");
        }
      })
      .catch(function () {})
      .then(function () {
        if (!body.hasAttribute("data-finished")) {
          window.setTimeout(tick, 1000);
        }
      });
  }
  window.setTimeout(tick, 1000);
})();
