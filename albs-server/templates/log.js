// Follows a running task's log: reads new lines from the JSON log API and
// appends them as text (never as HTML) until the task has ended.
(function () {
  "use strict";
  var pre = document.getElementById("log");
  if (!pre || pre.dataset.done === "true") { return; }
  var task = pre.dataset.task;
  var next = Number(pre.dataset.next);
  var state = document.getElementById("log-state");
  function poll() {
    fetch("/api/v1/tasks/" + encodeURIComponent(task) + "/log?from=" + next, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (chunk) {
        if (chunk.lines.length > 0) {
          pre.appendChild(document.createTextNode(chunk.lines.join("\n") + "\n"));
        }
        next = chunk.next;
        pre.dataset.next = String(next);
        if (chunk.done && chunk.lines.length === 0) {
          pre.dataset.done = "true";
          if (state) { state.textContent = "the task has ended"; }
          return;
        }
        setTimeout(poll, chunk.lines.length > 0 ? 200 : 1000);
      })
      .catch(function (e) {
        if (state) { state.textContent = "following the log failed (" + e.message + "); retrying"; }
        setTimeout(poll, 3000);
      });
  }
  poll();
})();
