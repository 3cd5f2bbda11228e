/*
 * django_jobs admin: the live parts of the dashboard and of a job's page.
 * Polls their JSON endpoints every 2 seconds (admin/live.py) and updates the
 * page in place: no reload, no library, nothing from a CDN. Every value is
 * written as text (textContent), never as HTML.
 */
(function () {
    "use strict";

    var INTERVAL = 2000;

    function poll(url, update) {
        var timer = null;
        function tick() {
            fetch(url(), {credentials: "same-origin", headers: {"Accept": "application/json"}})
                .then(function (response) {
                    if (!response.ok) {
                        throw new Error(response.status + " " + response.statusText);
                    }
                    return response.json();
                })
                .then(function (data) {
                    if (update(data) !== false) {
                        timer = setTimeout(tick, INTERVAL);
                    }
                })
                .catch(function () {
                    timer = setTimeout(tick, INTERVAL * 5); // the server is away: try again later
                });
        }
        timer = setTimeout(tick, INTERVAL);
        return function () { clearTimeout(timer); };
    }

    function element(tag, text, className) {
        var node = document.createElement(tag);
        if (text !== undefined && text !== null) {
            node.textContent = String(text);
        }
        if (className) {
            node.className = className;
        }
        return node;
    }

    function ago(iso, now) {
        if (!iso) {
            return "";
        }
        var seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
        if (seconds < 60) { return seconds + "s ago"; }
        if (seconds < 3600) { return Math.round(seconds / 60) + "m ago"; }
        return Math.round(seconds / 3600) + "h ago";
    }

    function clock(iso) {
        var at = new Date(iso);
        return at.toTimeString().slice(0, 8);
    }

    // -- the dashboard --------------------------------------------------------------------------

    var FIELDS = ["due", "scheduled", "running", "succeeded", "failed", "cancelled", "expired"];

    function setCount(cell, value) {
        var link = cell.querySelector("a");
        (link || cell).textContent = String(value);
    }

    function updateDashboard(panel, data) {
        var rows = {};
        panel.querySelectorAll("tr[data-queue]").forEach(function (row) {
            rows[row.getAttribute("data-queue")] = row;
        });
        data.queues.forEach(function (queue) {
            var row = rows[queue.name];
            if (!row) {
                return; // a queue new since the page was drawn: shown at the next reload
            }
            FIELDS.forEach(function (field) {
                var cell = row.querySelector("[data-field='" + field + "']");
                if (cell) {
                    setCount(cell, queue[field]);
                }
            });
        });
        var body = panel.querySelector(".djobs-workers tbody");
        if (body) {
            var now = Date.parse(data.generated_at);
            body.textContent = "";
            data.workers.forEach(function (w) {
                var row = element("tr", null, "djobs-worker djobs-worker-row-" + w.status);
                var id = element("td");
                id.appendChild(element("code", w.worker_id));
                row.appendChild(id);
                var status = element("td");
                status.appendChild(element("span", w.status_label, "djobs-state djobs-worker-" + w.status));
                row.appendChild(status);
                row.appendChild(element("td", w.host));
                row.appendChild(element("td", w.pid, "djobs-num"));
                row.appendChild(element("td", w.queues.length ? w.queues.join(", ") : "all"));
                row.appendChild(element("td", w.stopped_at ? "-" : w.running, "djobs-num"));
                row.appendChild(element("td", w.concurrency, "djobs-num"));
                row.appendChild(element("td", ago(w.started_at, now)));
                row.appendChild(element("td", ago(w.last_heartbeat, now)));
                row.appendChild(element("td", ago(w.stopped_at, now)));
                body.appendChild(row);
            });
            if (!data.workers.length) {
                var none = element("td", body.getAttribute("data-empty") || "");
                none.colSpan = 10;
                body.appendChild(element("tr")).appendChild(none);
            }
        }
        var stamp = panel.querySelector("[data-live='updated']");
        if (stamp) {
            stamp.textContent = clock(data.generated_at);
        }
    }

    // -- a job's page ---------------------------------------------------------------------------

    function updateJob(panel, data) {
        var badge = element("span", data.state_label, "djobs-state djobs-state-" + data.state);
        var state = panel.querySelector("[data-live='state']");
        state.textContent = "";
        state.appendChild(badge);
        panel.querySelector("[data-live='attempts']").textContent =
            data.attempts + " made, " + data.attempts_left + " left, of " + data.max_attempts;
        var body = panel.querySelector(".djobs-live-lines tbody");
        data.lines.forEach(function (line) {
            var row = element("tr", null, "djobs-level-" + line.level);
            row.setAttribute("data-line", line.id);
            row.appendChild(element("td", clock(line.created_at), "djobs-log-time"));
            row.appendChild(element("td", "#" + line.attempt, "djobs-log-attempt"));
            row.appendChild(element("td", line.level_name, "djobs-log-level"));
            row.appendChild(element("td", line.logger, "djobs-log-logger"));
            row.appendChild(element("td", line.message, "djobs-log-message"));
            body.appendChild(row);
        });
        panel.setAttribute("data-after", data.after);
        panel.querySelector("[data-live='updated']").textContent = new Date().toTimeString().slice(0, 8);
        if (!data.live) {
            panel.querySelector(".djobs-live-done").hidden = false;
            return false; // finished: nothing more to poll
        }
        return true;
    }

    function start() {
        var dashboard = document.getElementById("djobs-dashboard-live");
        if (dashboard) {
            poll(function () { return dashboard.getAttribute("data-url"); }, function (data) {
                updateDashboard(dashboard, data);
            });
        }
        var job = document.getElementById("djobs-job-live");
        if (job) {
            poll(function () {
                var url = job.getAttribute("data-url");
                return url + (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(job.getAttribute("data-after"));
            }, function (data) {
                return updateJob(job, data);
            });
        }
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
})();
