// imgsvc pages: live regions, copy buttons, colours and widths from data attributes.
// Loaded by every page; no inline script or style is needed anywhere (strict CSP).
(function () {
  "use strict";

  function clamp(value) {
    var number = parseFloat(value);
    return isNaN(number) ? 0 : Math.max(0, Math.min(100, number));
  }

  // Dynamic colours and widths live in data attributes; CSSOM writes from a script file
  // are allowed by "style-src 'self'", style="" attributes are not.
  function decorate(root) {
    root.querySelectorAll("[data-color]").forEach(function (element) {
      element.style.backgroundColor = element.dataset.color;
    });
    root.querySelectorAll("[data-width]").forEach(function (element) {
      element.style.width = clamp(element.dataset.width) + "%";
    });
  }

  // A region with an id and data-refresh="<ms>" is fetched again (from data-src, or this
  // page) and swapped for its new version, until the new version has no data-refresh.
  function watch(region) {
    var delay = parseInt(region.dataset.refresh, 10) || 3000;
    var source = region.dataset.src || window.location.pathname + window.location.search;
    var failures = 0;

    function later(ms) {
      window.setTimeout(tick, ms);
    }

    function tick() {
      if (!region.isConnected) return;
      if (document.hidden) return later(delay);
      fetch(source, { headers: { Accept: "text/html" }, cache: "no-store", credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          failures = 0;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
          if (!fresh) return;
          fresh = document.importNode(fresh, true);
          if (fresh.outerHTML !== region.outerHTML) {
            decorate(fresh);
            region.replaceWith(fresh);
            region = fresh;
          }
          if (region.hasAttribute("data-refresh")) later(delay);
        })
        .catch(function () {
          failures += 1;
          later(Math.min(delay * Math.pow(2, failures), 30000));
        });
    }

    later(delay);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      var buffer = document.createElement("textarea");
      buffer.value = text;
      buffer.setAttribute("readonly", "");
      buffer.className = "copy-buffer";
      document.body.appendChild(buffer);
      buffer.select();
      var copied = false;
      try {
        copied = document.execCommand("copy");
      } catch (error) {
        copied = false;
      }
      buffer.remove();
      if (copied) resolve();
      else reject(new Error("copy refused"));
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copy);
    if (!source) return;
    var status = button.parentNode.querySelector("[data-copy-status]");
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    copyText(source.textContent).then(
      function () {
        button.textContent = "Copied";
        if (status) status.textContent = "Copied to the clipboard.";
        window.setTimeout(function () {
          button.textContent = label;
          if (status) status.textContent = "";
        }, 2500);
      },
      function () {
        var range = document.createRange();
        range.selectNodeContents(source);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        if (status) status.textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
      }
    );
  });

  decorate(document);
  document.querySelectorAll("[data-refresh][id]").forEach(watch);
})();
