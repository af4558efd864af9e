// passgate console: progressive enhancement only; every page works without it.
(function () {
  "use strict";

  // Dates: each <time datetime> shown in the browser's time zone.
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });
  function localTimes(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var moment = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(moment.getTime())) {
        times[i].title = times[i].getAttribute("datetime");
        times[i].textContent = format.format(moment);
      }
    }
  }

  // Buttons that ask first: <button data-confirm="...">.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var text = button && button.getAttribute("data-confirm");
    if (text && !window.confirm(text)) {
      event.preventDefault();
    }
  });

  // Logs: the live tail polls for events newer than the first row.
  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.textContent = text || "";
    row.appendChild(td);
    return td;
  }
  function tailRow(log) {
    var row = document.createElement("tr");
    row.setAttribute("data-log-id", log.log_id);
    var when = cell(row, "");
    var time = document.createElement("time");
    time.setAttribute("datetime", log.date || "");
    time.textContent = log.date || "";
    when.appendChild(time);
    var kind = cell(row, "");
    var link = document.createElement("a");
    link.href = "/admin/logs/" + encodeURIComponent(log.log_id);
    var code = document.createElement("code");
    code.textContent = log.type || "";
    link.appendChild(code);
    kind.appendChild(link);
    cell(row, log.description, "wrap");
    cell(row, log.ip, "mono");
    cell(row, log.user_name, "wrap");
    cell(row, log.client_name, "wrap");
    row.className = "fresh";
    return row;
  }
  function startTail(box) {
    var body = document.querySelector("#log-table tbody");
    var status = document.getElementById("tail-status");
    var timer = null;
    function newest() {
      var first = body.querySelector("tr[data-log-id]");
      return first ? first.getAttribute("data-log-id") : "";
    }
    function poll() {
      var url = box.getAttribute("data-tail") + "&after=" + encodeURIComponent(newest());
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, redirect: "error" })
        .then(function (answer) {
          if (!answer.ok) { throw new Error("status " + answer.status); }
          return answer.json();
        })
        .then(function (found) {
          var empty = body.querySelector("tr.empty");
          if (empty && found.logs.length) { empty.remove(); }
          found.logs.forEach(function (log) {
            var row = tailRow(log);
            body.insertBefore(row, body.firstChild);
            localTimes(row);
          });
          status.textContent = "Live: checked " + new Date().toLocaleTimeString();
        })
        .catch(function () {
          status.textContent = "Live tail stopped (reload the page).";
          box.checked = false;
          window.clearInterval(timer);
        });
    }
    box.addEventListener("change", function () {
      window.clearInterval(timer);
      if (box.checked) {
        poll();
        timer = window.setInterval(poll, 3000);
      } else {
        status.textContent = "";
      }
    });
  }

  window.passgateConsole = { localTimes: localTimes };
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("live-tail");
    if (box) { startTail(box); }
  });
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
})();
