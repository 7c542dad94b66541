// Small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";
  // Forms that change data ask first when they carry data-confirm (e.g. withdrawing a record).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
  // After htmx swaps in new results, move focus to them for keyboard and screen-reader users.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "results" && event.detail.requestConfig && event.detail.requestConfig.triggeringEvent &&
        event.detail.requestConfig.triggeringEvent.type === "submit") {
      target.setAttribute("tabindex", "-1");
      target.focus();
    }
  });
})();
