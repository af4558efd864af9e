// passgate console: progressive enhancement only; every page works without it.
(function () {
  "use strict";

  // Dates: each <time datetime> shown in the browser's time zone.
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });
  var minuteFormat = new Intl.DateTimeFormat(undefined, {
    month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });
  var hourFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  function localTimes(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var moment = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(moment.getTime())) {
        var shown = times[i].getAttribute("data-precision") === "minute" ? minuteFormat : format;
        times[i].title = times[i].getAttribute("datetime");
        times[i].textContent = shown.format(moment);
      }
    }
    // The dashboard's hourly charts: a bar's title and the axis labels.
    var hours = root.querySelectorAll("[data-hour]");
    for (var j = 0; j < hours.length; j++) {
      var hour = new Date(hours[j].getAttribute("data-hour"));
      if (isNaN(hour.getTime())) { continue; }
      if (hours[j].localName === "title") {
        hours[j].textContent = minuteFormat.format(hour) + (hours[j].getAttribute("data-rest") || "");
      } else {
        hours[j].textContent = hourFormat.format(hour);
      }
    }
  }

  // Date filters typed in the browser's time zone, sent in UTC (without the script they
  // are read as UTC, as their labels say).
  var ZONED = /(?:Z|[+-]\d\d:?\d\d)$/i;
  var NAIVE = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d))?)?$/;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function typed(date) {
    return ("000" + date.getFullYear()).slice(-4) + "-" + pad(date.getMonth() + 1) + "-" +
      pad(date.getDate()) + "T" + pad(date.getHours()) + ":" + pad(date.getMinutes()) +
      (date.getSeconds() ? ":" + pad(date.getSeconds()) : "");
  }
  function toUtc(text) {
    var part = NAIVE.exec(text.trim());
    if (!part) { return null; }
    var date = new Date(2000, 0, 1, +(part[4] || 0), +(part[5] || 0), +(part[6] || 0));
    date.setFullYear(+part[1], +part[2] - 1, +part[3]);
    var clock = +(part[4] || 0) <= 23 && +(part[5] || 0) <= 59 && +(part[6] || 0) <= 59;
    if (!clock || date.getMonth() !== +part[2] - 1 || date.getDate() !== +part[3]) {
      return null;  // not a date (a 13th month, 25:00): sent as typed, the server says why
    }
    return date.toISOString().replace(".000Z", "Z");
  }
  function localDates(form) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "your time zone";
    var labels = form.querySelectorAll("[data-zone]");
    for (var i = 0; i < labels.length; i++) { labels[i].textContent = "(" + zone + ")"; }
    var inputs = form.querySelectorAll("input[data-moment]");
    for (var j = 0; j < inputs.length; j++) {
      var value = inputs[j].value.trim();
      var moment = new Date(value);
      if (ZONED.test(value) && !isNaN(moment.getTime())) { inputs[j].value = typed(moment); }
    }
    form.addEventListener("submit", function () {
      for (var k = 0; k < inputs.length; k++) {
        var utc = toUtc(inputs[k].value);
        if (utc) { inputs[k].value = utc; }
      }
    });
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
    var filters = document.querySelector("form[data-local-dates]");
    if (filters) { localDates(filters); }
  });
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
})();
