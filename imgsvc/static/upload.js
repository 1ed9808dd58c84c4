// The upload form: drag and drop or pick a file, check its type and size here,
// show its preview (a click on it sets the thumbnail's focal point), send it with
// a progress bar, then go to the image's page.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) return;
  var input = document.getElementById("file");
  var zone = document.getElementById("dropzone");
  var errorBox = document.getElementById("upload-error");
  var statusBox = document.getElementById("upload-status");
  var progress = document.getElementById("upload-progress");
  var bar = document.getElementById("upload-bar");
  var percent = document.getElementById("upload-percent");
  var nameLabel = document.getElementById("upload-name");
  var submit = document.getElementById("upload-submit");
  var previewBox = document.getElementById("upload-preview");
  var frame = document.getElementById("focus-frame");
  var preview = document.getElementById("focus-preview");
  var marker = document.getElementById("focus-marker");
  var focusField = document.getElementById("focus");
  var clearButton = document.getElementById("focus-clear");
  var help = document.getElementById("focus-help");
  var unavailable = document.getElementById("focus-unavailable");
  var maxBytes = parseInt(form.dataset.maxBytes, 10) || 0;
  var allowed = (form.dataset.formats || "").toUpperCase().split(",").filter(Boolean);
  var sniffable = ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "HEIF", "AVIF"];
  var busy = false;
  var chosen = null; // the file to send: picked or dropped, checked
  var previewUrl = null;

  // With this script the button appears once a file is chosen and checked, under its preview.
  submit.classList.add("d-none");
  clearButton.classList.remove("d-none");

  function mib(bytes) {
    return (bytes / 1048576).toFixed(1) + " MiB";
  }

  function showError(code, message) {
    busy = false;
    errorBox.textContent = "";
    var strong = document.createElement("strong");
    strong.textContent = code;
    errorBox.append(strong, ": " + message);
    errorBox.dataset.code = code;
    errorBox.classList.remove("d-none");
    statusBox.classList.add("d-none");
    zone.classList.remove("busy");
    input.value = "";
    forget();
  }

  // The focal point typed or clicked, as [x, y] in 0-1; null when empty or malformed.
  function focusPoint() {
    var parts = focusField.value.split(",");
    if (parts.length !== 2 || !parts[0].trim() || !parts[1].trim()) return null;
    var x = Number(parts[0]), y = Number(parts[1]);
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) return null;
    return [x, y];
  }

  function drawMarker() {
    var point = focusPoint();
    marker.classList.toggle("d-none", !point);
    if (!point) return;
    marker.style.left = point[0] * 100 + "%";
    marker.style.top = point[1] * 100 + "%";
  }

  function round3(value) {
    return Math.round(Math.min(1, Math.max(0, value)) * 1000) / 1000;
  }

  // A click on the preview: the point as fractions of the image as displayed.
  preview.addEventListener("click", function (event) {
    var box = preview.getBoundingClientRect();
    if (!box.width || !box.height) return;
    var x = round3((event.clientX - box.left) / box.width);
    var y = round3((event.clientY - box.top) / box.height);
    focusField.value = x + "," + y;
    drawMarker();
  });
  focusField.addEventListener("input", drawMarker);
  clearButton.addEventListener("click", function () {
    focusField.value = "";
    drawMarker();
    focusField.focus();
  });

  // The chosen file's preview from an object URL. A browser that cannot render the
  // format (HEIC in most) says so; the typed field still sets the point.
  function showPreview(file) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    frame.classList.remove("d-none");
    help.classList.remove("d-none");
    unavailable.classList.add("d-none");
    preview.src = previewUrl;
    previewBox.classList.remove("d-none");
    submit.textContent = "Upload " + file.name;
    submit.classList.remove("d-none");
    drawMarker();
  }

  preview.addEventListener("error", function () {
    if (!chosen) return;
    frame.classList.add("d-none");
    help.classList.add("d-none");
    unavailable.classList.remove("d-none");
  });

  function forget() {
    chosen = null;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    preview.removeAttribute("src");
    previewBox.classList.add("d-none");
    submit.classList.add("d-none");
    submit.disabled = false;
  }

  function setProgress(value) {
    var rounded = Math.round(value);
    bar.style.width = rounded + "%";
    progress.setAttribute("aria-valuenow", String(rounded));
    percent.textContent = rounded + "%";
  }

  // The format from the file's first bytes, as the server checks it (the name can lie).
  function sniff(bytes) {
    function at(offset, text) {
      for (var i = 0; i < text.length; i++) {
        if (bytes[offset + i] !== text.charCodeAt(i)) return false;
      }
      return true;
    }
    if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "JPEG";
    if (bytes[0] === 0x89 && at(1, "PNG\r\n\x1a\n")) return "PNG";
    if (at(0, "GIF87a") || at(0, "GIF89a")) return "GIF";
    if (at(0, "RIFF") && at(8, "WEBP")) return "WEBP";
    if (at(0, "II*\x00") || at(0, "MM\x00*")) return "TIFF";
    if (at(4, "ftyp")) return isoBrand(bytes, at);
    return null;
  }

  // HEIF or AVIF from the ftyp box's brands, as imgsvc/imaging/isobmff.py reads them.
  function isoBrand(bytes, at) {
    if (at(8, "avif") || at(8, "avis")) return "AVIF";
    var heif = ["heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"];
    if (!heif.some(function (brand) { return at(8, brand); })) return null;
    var size = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
    if (at(8, "mif1")) {
      for (var offset = 16; offset + 4 <= Math.min(size, bytes.length); offset += 4) {
        if (at(offset, "avif") || at(offset, "avis")) return "AVIF";
      }
    }
    return "HEIF";
  }

  function problemWith(file) {
    if (maxBytes && file.size > maxBytes - 8192) {
      return Promise.resolve(["file_too_large",
        "“" + file.name + "” is " + mib(file.size) + "; the limit is " + mib(maxBytes) +
        ". Export a smaller version and upload that."]);
    }
    if (file.size === 0) return Promise.resolve(["invalid_image", "“" + file.name + "” is empty."]);
    return file.slice(0, 64).arrayBuffer().then(function (buffer) {
      var format = sniff(new Uint8Array(buffer));
      var known = allowed.every(function (name) { return sniffable.indexOf(name) >= 0; });
      if ((format && allowed.indexOf(format) < 0) || (!format && known)) {
        return ["unsupported_format",
          "“" + file.name + "” is not a " + allowed.join(", ") + " image. Choose an image file."];
      }
      return null;
    });
  }

  function parseJson(request) {
    try {
      return JSON.parse(request.responseText);
    } catch (error) {
      return null;
    }
  }

  function trackProgress(request) {
    request.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) setProgress((event.loaded / event.total) * 100);
    });
  }

  // The service's answer to an upload (the form's POST / or a direct upload's
  // "complete", which answer alike): the image's page, or the error it names.
  function finish(request) {
    var body = parseJson(request);
    if (request.status >= 200 && request.status < 300 && body && body.links) {
      setProgress(100);
      window.location.assign(body.links.page);
      return;
    }
    var error = (body && body.error) || {
      code: "upload_failed",
      message: "The upload failed (HTTP " + request.status + "). Try again.",
    };
    showError(error.code, error.message);
  }

  function interrupted() {
    showError("upload_failed", "The upload was interrupted. Check the connection and the file's size, then try again.");
  }

  function postJson(url, body, onLoad, onError) {
    var request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("Accept", "application/json");
    if (body !== null) request.setRequestHeader("Content-Type", "application/json");
    request.addEventListener("load", function () { onLoad(request); });
    request.addEventListener("error", onError);
    request.send(body === null ? null : JSON.stringify(body));
  }

  // The form, posted to the web with its CSRF token.
  function sendToWeb(file) {
    setProgress(0);
    var data = new FormData(form);
    data.set("file", file, file.name);
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    trackProgress(request);
    request.addEventListener("load", function () { finish(request); });
    request.addEventListener("error", interrupted);
    request.send(data);
  }

  // Straight to the bucket (data-direct: S3 storage, imgsvc/web/directform.py says
  // when and why no CSRF token goes with it): a presigned POST from the API, the
  // file to the bucket, then "complete". Until the file is in the bucket, any
  // failure posts the form to the web instead, which works whatever the bucket:
  // a refused CORS preflight and an unreachable bucket are the same network error
  // to a script, a start refused for the setup (no S3 after all, an API key needed)
  // is no fault of the person's, and a file the bucket refuses (too large) gets the
  // web's own answer. Only a rate limit is shown at once: the web would refuse too.
  function sendDirect(file, focus) {
    var toWeb = function () { sendToWeb(file); };
    postJson(form.dataset.direct, null, function (start) {
      var body = parseJson(start);
      if (start.status === 429) return finish(start);
      if (start.status !== 201 || !body || !body.upload || !body.links) return toWeb();
      var data = new FormData();
      Object.keys(body.upload.fields).forEach(function (name) {
        data.append(name, body.upload.fields[name]);
      });
      data.append(body.upload.file_field || "file", file, file.name); // S3 wants the file last
      var request = new XMLHttpRequest();
      request.open("POST", body.upload.url);
      trackProgress(request);
      request.addEventListener("load", function () {
        if (request.status < 200 || request.status >= 300) return toWeb();
        setProgress(100);
        postJson(body.links.complete, focus ? { focus: focus } : {}, finish, interrupted);
      });
      request.addEventListener("error", toWeb);
      request.send(data);
    }, toWeb);
  }

  function send(file) {
    var focus = focusField.value.trim();
    // A focal point the page cannot read goes through the web, whose answer names it.
    if (form.dataset.direct && (!focus || focusPoint())) return sendDirect(file, focus);
    sendToWeb(file);
  }

  // A file picked or dropped: checked here, then shown until the form is submitted.
  function choose(file) {
    if (!file || busy) return;
    errorBox.classList.add("d-none");
    problemWith(file).then(function (problem) {
      if (problem) return showError(problem[0], problem[1]);
      chosen = file;
      showPreview(file);
    });
  }

  function upload() {
    if (busy) return;
    if (!chosen) return showError("missing_file", "Choose an image to upload.");
    busy = true;
    errorBox.classList.add("d-none");
    nameLabel.textContent = "Uploading " + chosen.name + " (" + mib(chosen.size) + ")";
    setProgress(0);
    statusBox.classList.remove("d-none");
    zone.classList.add("busy");
    submit.disabled = true;
    send(chosen);
  }

  input.addEventListener("change", function () {
    if (input.files.length) choose(input.files[0]);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    upload();
  });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("dragover");
    });
  });
  ["dragleave", "dragend", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () {
      zone.classList.remove("dragover");
    });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) choose(event.dataTransfer.files[0]);
  });
  // A file dropped next to the zone must not replace the page with the file.
  ["dragover", "drop"].forEach(function (name) {
    window.addEventListener(name, function (event) {
      if (!zone.contains(event.target)) event.preventDefault();
    });
  });
})();
