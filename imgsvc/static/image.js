// Poll the image's status until it is final, then show the result.
(function () {
  "use strict";
  var section = document.getElementById("image");
  if (!section) return;
  var status = section.dataset.status;
  if (status === "done" || status === "failed") return;
  var delay = 500;
  function poll() {
    fetch(section.dataset.api, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        var label = document.getElementById("status");
        label.textContent = body.status;
        label.className = "status status-" + body.status;
        if (body.status === "done" || body.status === "failed") {
          window.location.reload();
          return;
        }
        delay = Math.min(delay * 1.5, 5000);
        window.setTimeout(poll, delay);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, delay);
})();
