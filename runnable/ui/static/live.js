// Live updates without a reload: while a row of the runs table (or the run page) is RUNNING, ask
// the server for those runs every 2 seconds (a small JSON answer from the listing index).
(function () {
  "use strict";
  var INTERVAL = 2000;

  function durationText(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    if (seconds < 60) return seconds.toFixed(1) + "s";
    var m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
    if (m < 60) return m + "m" + (s < 10 ? "0" : "") + s + "s";
    var h = Math.floor(m / 60); m = m % 60;
    return h + "h" + (m < 10 ? "0" : "") + m + "m";
  }

  function setStatus(cell, status) {
    var badge = cell.querySelector(".status");
    if (!badge) return;
    badge.textContent = status;
    badge.className = "status status-" + status.toLowerCase();
    badge.setAttribute("data-status", status);
  }

  function poll() {
    var live = document.getElementById("live");
    var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-run].row-running"));
    var ids = rows.map(function (r) { return r.getAttribute("data-run"); });
    if (live) ids.push(live.getAttribute("data-run"));
    if (!ids.length) return;
    var query = ids.map(function (id) { return "id=" + encodeURIComponent(id); }).join("&");
    fetch("/api/status?" + query, { headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : {}; })
      .then(function (found) {
        if (live) {
          var mine = found[live.getAttribute("data-run")];
          if (mine && mine.status !== "RUNNING") { window.location.reload(); return; }
        }
        rows.forEach(function (row) {
          var run = found[row.getAttribute("data-run")];
          if (!run) return;
          setStatus(row.querySelector(".cell-status"), run.status);
          row.querySelector(".cell-duration").textContent = durationText(run.duration_seconds);
          Array.prototype.forEach.call(row.querySelectorAll("td[data-metric]"), function (td) {
            var value = run.metrics[td.getAttribute("data-metric")];
            if (value !== undefined) td.textContent = Number(value).toPrecision(6).replace(/\.?0+$/, "");
          });
          if (run.status !== "RUNNING") row.className = "row-" + run.status.toLowerCase();
        });
      })
      .catch(function () { /* the server is restarting: try again next time */ })
      .then(function () { window.setTimeout(poll, INTERVAL); });
  }

  window.setTimeout(poll, INTERVAL);
}());
