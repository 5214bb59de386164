/* Import job page: while a file is read or applied by a background worker,
   ask the job's status endpoint every second, move the progress bar, and
   reload the page once the job has left the waiting states (the full report
   is rendered by the server).  Plain JavaScript: the admin may run offline. */
(function () {
  "use strict";
  function start(box) {
    var url = box.getAttribute("data-status-url");
    var waitWhile = (box.getAttribute("data-wait-while") || "").split(",");
    var bar = box.querySelector(".hub-progress-bar");
    var outer = box.querySelector(".hub-progress");
    var text = box.querySelector(".hub-progress-text");
    var failures = 0;
    function poll() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (job) {
          failures = 0;
          if (waitWhile.indexOf(job.status) === -1) {
            window.location.reload();
            return;
          }
          if (job.progress_total > 0) {
            outer.classList.remove("hub-progress-indeterminate");
            bar.style.width = job.percent + "%";
            text.textContent = job.status_display + ": " + job.progress_done.toLocaleString() +
              " of " + job.progress_total.toLocaleString() + " rows (" + job.percent + "%)";
          } else {
            outer.classList.add("hub-progress-indeterminate");
            text.textContent = job.status_display + (job.progress_done ?
              ": " + job.progress_done.toLocaleString() + " rows so far" : "…");
          }
          window.setTimeout(poll, 1000);
        })
        .catch(function () {
          failures += 1;
          window.setTimeout(poll, Math.min(30000, 1000 * Math.pow(2, failures)));
        });
    }
    window.setTimeout(poll, 1000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var boxes = document.querySelectorAll("[data-status-url]");
    for (var i = 0; i < boxes.length; i++) { start(boxes[i]); }
  });
})();
