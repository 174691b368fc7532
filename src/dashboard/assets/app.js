/* synctool dashboard — one small script, no framework, no build step.
 *
 * A hash router (#/, #/p/NAME, #/run/ID, #/locks, #/workers) renders each
 * page from the JSON API under /api/v1 (docs/openapi.yaml) and refreshes it
 * every 5 seconds while the tab is visible. Inputs (the explain box, the
 * strategy picker) live outside the refreshed parts, so a refresh never
 * eats what the operator is typing. The API token, when entered, is kept in
 * sessionStorage (gone with the tab) and sent as a Bearer header; the action
 * buttons stay disabled without it. Everything from the API is escaped
 * before it touches innerHTML.
 *
 * Every page also shows the deployment's state above it (#status), from
 * GET /api/v1/workers at each refresh: no scheduler holds the leader lease
 * (nothing runs on schedule), the config on disk does not load, or the API
 * refuses the token (error.token: "missing" or "wrong"). Counters are per
 * strategy; a running run shows the figures it publishes (progress). Every
 * time shown is UTC, as the footer says.
 */
(function () {
  "use strict";

  var REFRESH_MS = 5000;
  var TOKEN_KEY = "synctool.token";
  var main = document.getElementById("main");
  var banner = document.getElementById("banner");
  var statusBox = document.getElementById("status");
  var schedulerUp = null;  // from /api/v1/workers: a scheduler leads (null: unknown)
  var current = null;      // {refresh: fn} of the page on screen
  var timer = null;

  // --- small helpers -------------------------------------------------------

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function $(sel, root) { return (root || document).querySelector(sel); }
  // Replaces an element's HTML only when it changed: a refresh that finds
  // nothing new leaves the page as it is (a selection, a hovered row, an
  // element a reader holds) instead of rebuilding it every few seconds.
  // The element's own HTML is compared too, so a change made another way
  // (textContent) is never kept by mistake.
  function setHtml(el, html) {
    if (!el || (el.__html === html && el.__dom === el.innerHTML)) return;
    el.innerHTML = html;
    el.__html = html;
    el.__dom = el.innerHTML;
  }
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  function api(method, path, body) {
    var headers = {"Accept": "application/json"};
    if (token()) headers["Authorization"] = "Bearer " + token();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, {method: method, headers: headers,
                        body: body === undefined ? undefined : JSON.stringify(body)})
      .then(function (r) {
        return r.text().then(function (t) {
          var data = null;
          try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
          if (!r.ok) {
            var msg = data && data.error ? data.error.message : (r.status + " " + r.statusText);
            var err = new Error(msg);
            err.status = r.status;
            err.code = data && data.error ? data.error.code : "";
            err.token = data && data.error ? data.error.token || "" : "";
            throw err;
          }
          return data;
        });
      });
  }
  function get(path) { return api("GET", path); }

  function showBanner(html, kind) {
    setHtml(banner, html);
    banner.className = "banner" + (kind ? " " + kind : "");
    banner.hidden = false;
  }
  function hideBanner() { banner.hidden = true; }

  function apiError(e) {
    if (e.status === 401 && e.token === "wrong")
      return "Wrong API token: the token entered is not this server's SYNCTOOL_API_TOKEN. " +
        "Paste the right one in the top right.";
    if (e.status === 401)
      return "API token required: this server answers only with its SYNCTOOL_API_TOKEN. " +
        "Paste it in the top right.";
    if (e.status === 403)
      return "Refused: " + e.message;
    return e.message || String(e);
  }

  // --- time ----------------------------------------------------------------

  var serverNow = null;     // Date of the API's "at", else the browser clock
  function now() { return serverNow || new Date(); }
  function parseTime(s) { return s ? new Date(s) : null; }

  function fmtDuration(secs) {
    if (secs == null || isNaN(secs)) return "–";
    secs = Math.abs(secs);
    if (secs < 1) return (secs * 1000).toFixed(0) + " ms";
    if (secs < 60) return secs.toFixed(secs < 10 ? 1 : 0) + " s";
    var m = Math.floor(secs / 60), s = Math.round(secs % 60);
    if (m < 60) return m + " min" + (s && m < 10 ? " " + s + " s" : "");
    var h = Math.floor(m / 60); m = m % 60;
    if (h < 48) return h + " h" + (m ? " " + m + " min" : "");
    var d = Math.floor(h / 24); h = h % 24;
    return d + " d" + (h ? " " + h + " h" : "");
  }
  function ago(iso) {
    var t = parseTime(iso);
    if (!t) return "never";
    var s = (now() - t) / 1000;
    if (s < -1) return "in " + fmtDuration(-s);
    if (s < 5) return "just now";
    return fmtDuration(s) + " ago";
  }
  function fmtUtc(iso) {
    if (!iso) return "";
    return iso.replace("T", " ").replace(/\.\d+Z$/, "Z").replace("Z", " UTC");
  }
  function clockUtc(d) { return d.toISOString().slice(11, 19) + " UTC"; }
  // The next run: its time, or why none comes (no scheduler leads).
  function nextCell(iso) {
    if (schedulerUp === false)
      return '<span class="bad-text" title="' + esc(iso ? "planned " + fmtUtc(iso) : "") +
        '">none: no scheduler</span>';
    return timeCell(iso, "not scheduled");
  }
  function timeCell(iso, none) {
    if (!iso) return '<span class="muted">' + esc(none || "never") + "</span>";
    return '<span title="' + esc(fmtUtc(iso)) + '">' + esc(ago(iso)) + "</span>";
  }

  // --- status words ----------------------------------------------------------

  function plainReason(reason, st) {
    if (!reason) return "";
    var r = reason, m;
    var prefix = "";
    if ((m = /^Moved to new schedule slot, abandoning old retry; (.*)$/.exec(r))) {
      prefix = "New schedule slot (the old retry was dropped). ";
      r = m[1];
    }
    var rules = [
      [/^Max retry count \((\d+)\) exceeded/, function (m) {
        return "Paused after " + (m[1] === "1" ? "a failed run" : m[1] + " failed runs in a row") +
          ". Fix the cause, then press Reset."; }],
      [/^Paused by operator/i, function () { return "Paused by an operator. Press Resume to schedule it again."; }],
      [/^Strategy is already running/, function () { return "Running now."; }],
      [/^Already scheduled at \S+ \(pending for (\d+)s\)/, function (m) {
        return "Queued " + fmtDuration(+m[1]) + " ago, waiting for a worker."; }],
      [/^Job failed on last attempt/, function () {
        return "The last run failed. It runs again at its next scheduled time" +
          (st && st.next_fire_at ? " (" + ago(st.next_fire_at) + ")" : "") + "."; }],
      [/^Retrying skipped job within current slot/, function () {
        return "Skipped because a lock was busy; retrying now."; }],
      [/^Recently skipped, retry in (\d+)s/, function (m) {
        return "Skipped because a lock was busy; retrying in " + fmtDuration(+m[1]) + "."; }],
      [/^First run or missing state/, function () { return "Never ran yet: due now."; }],
      [/^State missing and outside fallback window/, function () {
        return "Never ran yet; waits for its next scheduled time" +
          (st && st.next_fire_at ? " (" + ago(st.next_fire_at) + ")" : "") + "."; }],
      [/^Already ran at ([^,\s]+)/, function (m) {
        return "Up to date: already ran for this slot (" + ago(m[1]) + ")."; }],
      [/^Already scheduled at/, function () { return "Already queued for this slot."; }],
      [/^Due to run/, function () { return "Due now."; }],
      [/^Overdue \(gap: (\d+)s/, function () { return "Overdue: it missed its schedule and catches up now."; }],
      [/^Not due yet/, function () {
        return "Up to date. Next run " + (st && st.next_fire_at ? ago(st.next_fire_at) : "not scheduled") + "."; }],
      [/^Error: (.*)$/, function (m) { return "Schedule problem: " + m[1]; }]
    ];
    for (var i = 0; i < rules.length; i++) {
      var mm = rules[i][0].exec(r);
      if (mm) return prefix + rules[i][1](mm);
    }
    return prefix + r;
  }

  // Strategies by state, over every pipeline: the cards count these.
  function strategyCounts(pipelines) {
    var c = {total: 0, running: 0, pending: 0, failed: 0, paused: 0};
    pipelines.forEach(function (p) {
      (p.strategies || []).forEach(function (s) {
        var st = strategyState(s);
        c.total++;
        if (s.status === "running") c.running++;        // even while paused or failing
        else if (s.status === "pending") c.pending++;
        if (st === "paused") c.paused++;
        else if (st === "failed" || st === "lost") c.failed++;
      });
    });
    return c;
  }

  // What a running strategy has done so far, from its published progress.
  function progressText(pr) {
    if (!pr) return "started, no figures yet";
    // an estimate the run has already passed says nothing about what is left
    var total = pr.rows_expected && pr.rows_expected > pr.rows_read ? pr.rows_expected : null;
    var t = num(pr.rows_read) + (total ? " of ~" + num(total) : "") + " rows read";
    if (total) t += " (" + Math.floor(100 * pr.rows_read / total) + "%)";
    t += ", " + num(pr.rows_written) + " written";
    if (pr.rows_per_s) t += ", " + num(Math.round(pr.rows_per_s)) + " rows/s";
    // figures are published every 5 s while batches commit: older ones mean
    // the run is waiting (a slow query, a lock), and their ETA means nothing
    var age = pr.at ? (new Date() - parseTime(pr.at)) / 1000 : 0;
    if (age > 15) t += "; no new figures for " + fmtDuration(age) + " (waiting on the source or a lock?)";
    else if (pr.eta_s != null && (total || pr.segments_expected))
      t += ", ETA " + (pr.eta_s < 1 ? "under 1 s" : fmtDuration(pr.eta_s));
    return t;
  }

  // The Why of a strategy, cause first: the pause and its cause, a failure,
  // a run in progress; then the error text and the scheduler's own reason.
  function whyHtml(s, named) {
    var st = strategyState(s), lead, err = s.error && (st === "paused" || st === "failed" || st === "lost");
    if (s.paused_by === "operator") lead = "Paused by an operator. Press Resume to schedule it again.";
    else if (st === "paused")
      lead = "Paused after " + (s.retry_count === 1 ? "a failed run" : s.retry_count + " failed runs in a row") +
        ". Fix the cause, then press Reset.";
    else if (s.status === "running") lead = "Running: " + progressText(s.progress) + ".";
    else if (st === "failed" || st === "lost")
      lead = (st === "lost" ? "The last run was lost" : "The last run failed") +
        "; it runs again at its next scheduled time" +
        (s.next_fire_at && schedulerUp !== false ? " (" + ago(s.next_fire_at) + ")" : "") + ".";
    else lead = plainReason(s.reason, s);
    if (schedulerUp === false && s.should_run && !s.paused)
      lead += " Not started: no scheduler is running.";
    return '<span class="lead" title="' + esc(s.strategy + ": " + s.reason) + '">' +
      (named ? '<span class="muted">' + esc(s.strategy) + ":</span> " : "") + esc(lead) + "</span>" +
      (err ? '<span class="raw err" title="' + esc(s.error) + '">' + esc(errorCause(s.error)) + "</span>" : "");
  }

  // An error as its cause: without the "src.table -> dst.table: " and
  // "datastore 'x' (engine): " prefixes that say where it happened (the
  // full text stays in the tooltip).
  function errorCause(e) {
    return String(e).replace(/^\S+ -> \S+: /, "")
      .replace(/^datastore '[^']*'(?: \([^)]*\))?: /, "");
  }

  function strategyState(s) {
    if (s.paused) return "paused";
    if (s.enabled === false) return "disabled";
    return s.status || "idle";
  }

  // The one word that sums a pipeline up, and how urgent it is (lower first).
  var RANK = {paused: 0, failed: 1, stale: 2, running: 3, ok: 4, never: 5};
  function pipelineState(p) {
    var ss = p.strategies || [], any = {};
    ss.forEach(function (s) { any[strategyState(s)] = true; });
    var f = freshnessOf(p);
    if (p.paused || any.paused) return "paused";
    if (any.failed || any.lost) return "failed";
    if (f.level === "error" || f.level === "warn") return "stale";
    if (any.running || any.pending) return "running";
    if (ss.some(function (s) { return s.last_run_at; })) return "ok";
    return "never";
  }
  var STATE_LABEL = {paused: "Paused", failed: "Failed", stale: "Stale", running: "Running",
                     ok: "Healthy", never: "Never run"};
  function stateBadge(state) {
    var cls = {ok: "b-ok", stale: "b-stale", never: "b-never"}[state] || "b-" + state;
    return '<span class="badge ' + cls + '">' + esc(STATE_LABEL[state] || state) + "</span>";
  }
  function statusBadge(status) {
    return '<span class="badge b-' + esc(status) + '">' + esc(status) + "</span>";
  }

  // Freshness of a pipeline: the youngest data any strategy delivered.
  function freshnessOf(p) {
    var best = null;
    (p.strategies || []).forEach(function (s) {
      if (s.freshness_s != null && (best == null || s.freshness_s < best)) best = s.freshness_s;
    });
    var f = p.freshness || {};
    if (f.age_s != null) best = f.age_s;
    var level = f.level || null;
    if (!level && best != null) {
      if (f.error_after_s && best >= f.error_after_s) level = "error";
      else if (f.warn_after_s && best >= f.warn_after_s) level = "warn";
      else if (f.warn_after_s || f.error_after_s) level = "ok";
    }
    return {age: best, level: level, warn: f.warn_after_s, error: f.error_after_s};
  }
  function freshnessCell(p) {
    var f = freshnessOf(p);
    var cls = f.level === "error" ? "fresh-error" : f.level === "warn" ? "fresh-warn" : "";
    // a cdc slot retaining too much WAL decided the level (the API says which)
    var slot = (p.freshness || {}).slot_strategy;
    if (slot) return '<span class="' + cls + '" title="the level the freshness alerts send">' +
      esc(slot) + "'s replication slot retains " +
      (f.level === "error" ? "more WAL than max_slot_lag: its runs fail" :
       f.level === "warn" ? "over half of max_slot_lag of WAL" : "little WAL") + "</span>" +
      (f.age != null ? " · " + esc(fmtDuration(f.age)) + " old" : "");
    if (f.age == null) return '<span class="muted">no data yet</span>';
    var lim = [];
    if (f.warn) lim.push("warn after " + fmtDuration(f.warn));
    if (f.error) lim.push("error after " + fmtDuration(f.error));
    return '<span class="' + cls + '" title="' + esc(lim.join(", ") || "no freshness threshold set") +
      '">' + esc(fmtDuration(f.age)) + " old" +
      (f.level === "error" ? " · too old" : f.level === "warn" ? " · getting old" : "") + "</span>";
  }

  // The strategy whose reason explains the pipeline best.
  function keyStrategy(p) {
    var ss = p.strategies || [];
    var order = function (s) {
      var st = strategyState(s);
      return st === "paused" ? 0 : st === "failed" || st === "lost" ? 1 :
             st === "running" || st === "pending" ? 2 : s.strategy === p.selected ? 3 :
             st === "disabled" ? 9 : 4;
    };
    return ss.slice().sort(function (a, b) { return order(a) - order(b); })[0] || null;
  }

  function lastOf(p, field) {
    var best = null;
    (p.strategies || []).forEach(function (s) {
      if (s[field] && (!best || s[field] > best)) best = s[field];
    });
    return best;
  }
  function nextOf(p) {
    var best = null;
    (p.strategies || []).forEach(function (s) {
      if (s.enabled !== false && !s.paused && s.next_fire_at && (!best || s.next_fire_at < best))
        best = s.next_fire_at;
    });
    return best;
  }

  // --- actions (need the token) ---------------------------------------------

  function actionButtons(name, strategies, opts) {
    var dis = token() ? "" : " disabled";
    var title = token() ? "" : ' title="Enter the API token (top right) to enable"';
    var anyPaused = (strategies || []).some(function (s) { return s.paused_by === "operator"; });
    var sel = '<select id="act-strategy" aria-label="Strategy">' +
      '<option value="">' + (opts && opts.allLabel || "default strategy") + "</option>" +
      (strategies || []).map(function (s) {
        return '<option value="' + esc(s.strategy) + '">' + esc(s.strategy) + "</option>";
      }).join("") + "</select>";
    return '<div class="actions">' + sel +
      '<button class="primary" data-act="run"' + dis + title + ">Run now</button>" +
      '<button data-act="reset"' + dis + title + ">Reset</button>" +
      '<button data-act="' + (anyPaused ? "resume" : "pause") + '"' + dis + title + ">" +
      (anyPaused ? "Resume" : "Pause") + "</button></div>" +
      (token() ? "" : '<div class="hint">Actions need the API token ($SYNCTOOL_API_TOKEN).</div>');
  }

  function wireActions(root, name, after) {
    root.querySelectorAll("button[data-act]").forEach(function (b) {
      b.addEventListener("click", function () {
        var act = b.getAttribute("data-act");
        var strat = ($("#act-strategy", root) || {}).value || "";
        var body = strat ? {strategy: strat} : {};
        if (act === "reset" && !confirm("Clear failures and the pause of " + name +
                                        (strat ? ":" + strat : " (all strategies)") + "?")) return;
        b.disabled = true;
        api("POST", "/api/v1/pipelines/" + encodeURIComponent(name) + "/" + act, body)
          .then(function (res) {
            if (act === "run" && res && res.run_id != null)
              showBanner("Run " + esc(res.run_id) + " of " + esc(res.pipeline) + ":" +
                         esc(res.strategy) + ' queued. <a href="#/run/' + esc(res.run_id) +
                         '">Follow it</a>', "info");
            else
              showBanner(esc(name) + ": " + esc(act) + " done.", "info");
            after();
          })
          .catch(function (e) { showBanner(esc(apiError(e))); })
          .then(function () { b.disabled = false; });
      });
    });
  }

  // --- pages -----------------------------------------------------------------

  function pipelinesPage() {
    main.innerHTML = '<h1>Pipelines</h1><div class="sub">Paused and failed pipelines first. ' +
      "Click a pipeline for its runs, chart and schedule.</div>" +
      '<div id="cards" class="cards"></div>' +
      '<div class="toolbar"><input type="search" id="filter" placeholder="Filter by name…" ' +
      'aria-label="Filter pipelines"></div>' +
      '<div class="panel"><table id="pipelines"><thead><tr>' +
      "<th>Status</th><th>Pipeline</th><th>Strategies</th><th>Last success</th>" +
      "<th>Next run</th><th>Freshness</th><th>Why</th></tr></thead>" +
      '<tbody><tr><td colspan="7" class="empty">Loading…</td></tr></tbody></table></div>';
    var data = null;
    var filter = $("#filter");
    filter.addEventListener("input", function () { if (data) draw(); });

    function draw() {
      var q = filter.value.trim().toLowerCase();
      var ps = data.pipelines.slice().map(function (p) { return {p: p, st: pipelineState(p)}; });
      // strategies are counted one by one: a pipeline whose hash runs while
      // its delta is paused counts in both cards; freshness is a pipeline's
      var c = strategyCounts(data.pipelines), stale = 0, healthy = 0;
      ps.forEach(function (x) { if (x.st === "stale") stale++; if (x.st === "ok") healthy++; });
      $("#cards").innerHTML =
        card(ps.length, "pipelines", "", c.total + " strategies") +
        card(c.running, "running", c.running ? "run" : "", c.pending ? c.pending + " queued" : "strategies") +
        card(c.failed, "failed", c.failed ? "bad" : "", "strategies") +
        card(c.paused, "paused", c.paused ? "pause" : "", "strategies") +
        card(stale, "stale data", stale ? "warn" : "", "pipelines") +
        card(healthy, "healthy", "ok", "pipelines");
      ps.sort(function (a, b) { return RANK[a.st] - RANK[b.st] || (a.p.pipeline < b.p.pipeline ? -1 : 1); });
      if (q) ps = ps.filter(function (x) { return x.p.pipeline.toLowerCase().indexOf(q) >= 0; });
      var rows = ps.map(function (x) {
        var p = x.p, ks = keyStrategy(p);
        var attention = x.st === "paused" || x.st === "failed";
        return '<tr class="' + (attention ? "attention " + x.st : "") + '" data-pipeline="' +
          esc(p.pipeline) + '" data-state="' + x.st + '">' +
          "<td>" + stateBadge(x.st) + "</td>" +
          '<td><a class="name" href="#/p/' + encodeURIComponent(p.pipeline) + '">' + esc(p.pipeline) +
          '</a><div class="small muted ell" title="' + esc(endpoint(p.source) + " → " + endpoint(p.destination)) +
          '">' + esc(endpoint(p.source)) + " → " + esc(endpoint(p.destination)) + "</div></td>" +
          '<td><div class="chips">' + (p.strategies || []).map(function (s) {
            var st = strategyState(s);
            return '<span class="chip ' + esc(st) + '" title="' + esc(s.type + " · " + (s.cron || "no schedule")) +
              '">' + esc(s.strategy) + (st !== "success" && st !== "idle" ? " · " + esc(st) : "") + "</span>";
          }).join("") + "</div></td>" +
          '<td class="nowrap">' + timeCell(lastOf(p, "last_run_at")) + "</td>" +
          '<td class="nowrap">' + (x.st === "paused" ? '<span class="muted">paused</span>' :
                                   nextCell(nextOf(p))) + "</td>" +
          '<td class="nowrap">' + freshnessCell(p) + "</td>" +
          '<td class="reason">' + (ks ? whyHtml(ks, true) : "") + "</td></tr>";
      }).join("");
      setHtml($("#pipelines tbody"), rows ||
        '<tr><td colspan="7" class="empty">' + (q ? "No pipeline matches." :
          "No pipelines configured. Add a file under pipelines/ in the config directory.") + "</td></tr>");
    }
    function card(n, label, cls, unit) {
      return '<div class="card ' + cls + '" data-card="' + esc(label) + '"><div class="n">' + n +
        '</div><div class="l">' + esc(label) + '</div><div class="u">' + esc(unit || "") +
        "</div></div>";
    }
    return {
      refresh: function () {
        return get("/api/v1/pipelines").then(function (d) {
          serverNow = d.at ? new Date(d.at) : null;
          data = d;
          draw();
        });
      }
    };
  }

  // An aggregate pipeline (API "aggregate"): its groups and the group map
  // delta keeps beside the destination.
  function aggregateLine(p) {
    if (!p.aggregate) return "";
    return '<div class="small muted" id="p-aggregate">aggregate: one row per group of ' +
      esc((p.aggregate.group_by || []).join(", ")) + " · group map " +
      esc(p.aggregate.group_map) + "</div>";
  }

  // A pipeline's compare: false columns (API column "compare"), by their
  // destination names as `explain` and `diff` name them.
  function ignoredLine(p) {
    var names = (p.columns || []).filter(function (c) { return c.compare === false; })
      .map(function (c) { return c.dest; });
    return names.length ? '<div class="small muted" id="p-ignored">ignored columns: ' +
      esc(names.join(", ")) + " (compare: false: copied, not compared by full, hash and diff)</div>" : "";
  }

  function endpoint(e) {
    if (!e) return "";
    if (e.query) return e.datastore + " (query)";
    return [e.datastore, e.schema, e.table].filter(Boolean).join(".") +
      (e.where ? " where " + e.where : "");
  }
  // A pipeline's lookups (columns added from another datastore by key).
  function lookupLines(p) {
    return (p.lookups || []).map(function (l) {
      var cols = (l.columns || []).map(function (c) { return c.dest; }).join(", ");
      return '<div class="small muted lookup">lookup ' + esc(l.name) + ": " +
        esc([l.datastore, l.schema, l.table].filter(Boolean).join(".")) + " by " + esc(l.key) +
        " = " + esc(l.lookup_key) + " adds " + esc(cols) +
        (l.required ? " (required)" : "") + "</div>";
    }).join("");
  }
  function truncate(s, n) { s = String(s || ""); return s.length > n ? s.slice(0, n - 1) + "…" : s; }

  function num(n) { return n == null ? "–" : Number(n).toLocaleString("en-US"); }
  // Bytes in powers of 1024, as max_slot_lag is written (64 kB, 1.5 GB).
  function fmtBytes(n) {
    if (n == null) return "–";
    var u = ["B", "kB", "MB", "GB", "TB"], i = 0, v = Number(n);
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i === 0 || v >= 100 ? Math.round(v) : v.toFixed(1).replace(/\.0$/, "")) + " " + u[i];
  }
  // A cdc strategy's slot, as its last run recorded it (the page never asks the source).
  function slotHtml(s) {
    var cls = s.slot_level === "error" ? " fresh-error" : s.slot_level === "warn" ? " fresh-warn" : "";
    var title = "retained: WAL the source keeps for the slot (current LSN - restart_lsn); " +
      "not applied: WAL written that the destination had not applied (current LSN - " +
      "confirmed LSN); both when the last run began";
    if (!s.watermark)
      return '<div class="small muted slot" data-slot-level="">slot: none yet (the next run creates it and copies the table in full)</div>';
    return '<div class="small slot' + cls + '" data-slot-level="' + esc(s.slot_level || "") +
      '" title="' + esc(title) + '">slot: confirmed <span class="mono">' + esc(s.watermark) + "</span>" +
      (s.slot_retained_bytes != null ? " · retains " + esc(fmtBytes(s.slot_retained_bytes)) + " of WAL" +
       (s.max_slot_lag ? " (max " + esc(fmtBytes(s.max_slot_lag)) + ")" : "") : "") +
      (s.slot_lag_bytes != null ? " · " + esc(fmtBytes(s.slot_lag_bytes)) + " not applied" : "") +
      (s.slot_lag_s != null ? " · holds the source as of " + esc(fmtDuration(s.slot_lag_s)) + " ago" : "") +
      "</div>";
  }
  function stat(v, label) {
    return '<div class="card"><div class="n">' + esc(v) + '</div><div class="l">' + esc(label) + "</div></div>";
  }

  function rowsMoved(r) { return (r.rows_inserted || 0) + (r.rows_updated || 0) + (r.rows_deleted || 0); }

  var STATUS_COLOR = {success: "#2f9e63", failed: "#d14343", lost: "#d14343", skipped: "#d99a1e",
                      interrupted: "#d99a1e", running: "#3b82f6", pending: "#3b82f6", idle: "#98a2b3"};

  // Bars: duration per run (colour = outcome); line: rows moved. Oldest left.
  function chartSvg(runs) {
    runs = runs.filter(function (r) { return r.status !== "skipped"; }).slice(0, 40).reverse();
    if (!runs.length) return '<div class="empty">No finished runs yet.</div>';
    var W = 820, H = 226, L = 64, R = 56, T = 30, B = 28;
    var iw = W - L - R, ih = H - T - B;
    // axes end at a round value whose quarters read well ("30 s", "1 min")
    var maxD = niceTop(Math.max.apply(null, runs.map(function (r) { return r.duration_s || 0; })),
                       DURATION_STEPS);
    var maxR = niceTop(Math.max.apply(null, runs.map(rowsMoved)), ROW_STEPS);
    var bw = iw / runs.length;
    var out = ['<svg viewBox="0 0 ' + W + " " + H + '" role="img" aria-label="Duration and rows of the last runs">'];
    for (var g = 0; g <= 4; g++) {
      var y = T + ih - ih * g / 4;
      out.push('<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y + '" y2="' + y +
               '" stroke="#eef0f3"/>');
      out.push('<text x="' + (L - 6) + '" y="' + (y + 4) + '" font-size="11" fill="#667085" text-anchor="end">' +
               esc(axisDuration(maxD * g / 4)) + "</text>");
      out.push('<text x="' + (W - R + 6) + '" y="' + (y + 4) + '" font-size="11" fill="#7c3aed">' +
               esc(compact(maxR * g / 4)) + "</text>");
    }
    out.push('<text x="' + (L - 6) + '" y="14" font-size="11" fill="#667085" text-anchor="end">duration</text>');
    out.push('<text x="' + (W - R + 6) + '" y="14" font-size="11" fill="#7c3aed">rows</text>');
    var pts = [];
    runs.forEach(function (r, i) {
      var bad = r.status === "failed" || r.status === "lost";
      var d = r.duration_s || 0, h = Math.max(bad ? 8 : 1.5, ih * d / maxD);
      var w = Math.min(34, Math.max(2, bw * 0.7)), x = L + i * bw + (bw - w) / 2;
      if (bad)
        out.push('<rect x="' + (L + i * bw).toFixed(1) + '" y="' + T + '" width="' + bw.toFixed(1) +
                 '" height="' + ih + '" fill="#fdecea"/>');
      out.push('<a href="#/run/' + esc(r.run_id) + '"><rect x="' + x.toFixed(1) + '" y="' +
               (T + ih - h).toFixed(1) + '" width="' + w.toFixed(1) + '" height="' + h.toFixed(1) +
               '" rx="2" fill="' + (STATUS_COLOR[r.status] || "#98a2b3") + '"><title>Run ' +
               esc(r.run_id) + " · " + esc(r.strategy) + " · " + esc(r.status) + " · " +
               esc(fmtDuration(d)) + " · " + esc(rowsMoved(r)) + " rows · " + esc(fmtUtc(r.started_at)) +
               "</title></rect></a>");
      pts.push([L + i * bw + bw / 2, T + ih - ih * rowsMoved(r) / maxR]);
    });
    out.push('<polyline fill="none" stroke="#7c3aed" stroke-width="2" points="' +
             pts.map(function (p) { return p[0].toFixed(1) + "," + p[1].toFixed(1); }).join(" ") + '"/>');
    pts.forEach(function (p) {
      out.push('<circle cx="' + p[0].toFixed(1) + '" cy="' + p[1].toFixed(1) + '" r="2.5" fill="#7c3aed"/>');
    });
    out.push('<text x="' + L + '" y="' + (H - 8) + '" font-size="11" fill="#667085">' +
             esc(fmtUtc(runs[0].started_at)) + "</text>");
    out.push('<text x="' + (W - R) + '" y="' + (H - 8) + '" font-size="11" fill="#667085" text-anchor="end">' +
             esc(fmtUtc(runs[runs.length - 1].started_at)) + "</text>");
    out.push("</svg>");
    return out.join("") + '<div class="legend">' +
      '<span><span class="sw" style="background:#2f9e63"></span>duration, success</span>' +
      '<span><span class="sw" style="background:#d14343"></span>failed run (shaded)</span>' +
      '<span><span class="sw" style="background:#7c3aed"></span>rows moved (right axis)</span>' +
      "<span>last " + runs.length + " runs, skips left out</span></div>";
  }
  // Axis tops: the smallest step*4 >= max from these steps (seconds, rows).
  var DURATION_STEPS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600,
                        900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  var ROW_STEPS = [1, 2, 5];
  function niceTop(max, steps) {
    if (!(max > 0)) return steps === ROW_STEPS ? 4 : 1;
    if (steps === ROW_STEPS) {
      for (var mag = 1; ; mag *= 10)
        for (var i = 0; i < steps.length; i++)
          if (steps[i] * mag * 4 >= max) return steps[i] * mag * 4;
    }
    for (var k = 0; k < steps.length; k++) if (steps[k] * 4 >= max) return steps[k] * 4;
    return Math.ceil(max / 86400 / 4) * 86400 * 4;
  }
  // A tick label that fits the left margin: "250 ms", "7.5 s", "1 min", "1.5 h".
  function axisDuration(secs) {
    if (secs === 0) return "0";
    if (secs < 1) return Math.round(secs * 1000) + " ms";
    if (secs < 60) return (Math.round(secs * 10) / 10) + " s";
    if (secs < 3600) return (Math.round(secs / 6) / 10) + " min";
    if (secs < 86400) return (Math.round(secs / 360) / 10) + " h";
    return (Math.round(secs / 8640) / 10) + " d";
  }
  function compact(n) {
    if (n >= 1e9) return parseFloat((n / 1e9).toFixed(1)) + "G";
    if (n >= 1e6) return parseFloat((n / 1e6).toFixed(1)) + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(0) + "k";
    return String(Math.round(n));
  }

  function historyRows(runs) {
    if (!runs.length) return '<tr><td colspan="7" class="empty">No runs recorded yet.</td></tr>';
    return runs.map(function (r) {
      return "<tr>" +
        '<td class="num"><a href="#/run/' + esc(r.run_id) + '">' + esc(r.run_id) + "</a></td>" +
        "<td>" + esc(r.strategy) + "</td>" +
        "<td>" + statusBadge(r.status) + "</td>" +
        '<td class="nowrap">' + timeCell(r.started_at) + "</td>" +
        '<td class="num">' + esc(fmtDuration(r.duration_s)) + "</td>" +
        '<td class="num mono">+' + esc(r.rows_inserted) + " ~" + esc(r.rows_updated) + " −" +
        esc(r.rows_deleted) + "</td>" +
        '<td class="small">' + (r.error ? '<span style="color:var(--bad)">' + esc(truncate(r.error, 200)) +
          "</span>" : esc(truncate(r.message || "", 200))) + "</td></tr>";
    }).join("");
  }

  function pipelinePage(name) {
    var base = "/api/v1/pipelines/" + encodeURIComponent(name);
    main.innerHTML = '<div class="crumbs"><a href="#/">Pipelines</a> /</div>' +
      '<div class="head"><div class="grow"><h1 id="p-title">' + esc(name) + '</h1><div id="p-sub" class="sub"></div></div>' +
      '<div id="p-actions"></div></div>' +
      '<div class="panel"><table id="strategies"><thead><tr><th>Strategy</th><th>Status</th>' +
      "<th>Schedule</th><th>Last success</th><th>Last attempt</th><th>Next run</th>" +
      '<th class="num">Failures</th><th>Why</th></tr></thead><tbody></tbody></table></div>' +
      '<div class="grid2"><div><h2>Last runs: duration and rows moved</h2>' +
      '<div class="panel chart" id="chart"></div></div>' +
      '<div><h2>Explain at a time</h2><div class="panel explain">' +
      '<form id="explain-form"><input type="text" id="explain-at" size="24" spellcheck="false" ' +
      'placeholder="2025-10-15T10:06:00Z" aria-label="Instant, ISO-8601 (UTC unless an offset is given)">' +
      '<button type="submit">Explain</button></form><div id="explain-out" class="small">' +
      '<span class="muted">Pick an instant to see what the scheduler would decide then, and why.</span>' +
      "</div></div></div></div>" +
      '<h2>History</h2><div class="panel"><table id="history"><thead><tr><th class="num">Run</th>' +
      "<th>Strategy</th><th>Status</th><th>Started</th><th class=\"num\">Duration</th>" +
      '<th class="num">Rows</th><th>Message</th></tr></thead><tbody></tbody></table></div>';
    var actionsDrawn = false;

    $("#explain-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var at = $("#explain-at").value.trim();
      if (!at) return;
      get(base + "?at=" + encodeURIComponent(at)).then(function (d) {
        var ex = d.explain || {};
        setHtml($("#explain-out"), "<div>At <b>" + esc(fmtUtc(ex.at || at)) + "</b>: " +
          (ex.selected ? "the scheduler would run <b>" + esc(ex.selected) + "</b>." :
           "nothing would run.") + "</div>" +
          (ex.strategies || []).map(function (s) {
            return '<div class="item"><b>' + esc(s.strategy) + "</b> " +
              (s.should_run ? '<span class="badge b-running">would run</span>' :
                              '<span class="badge b-idle">would not run</span>') +
              "<div>" + esc(s.reason) + '</div><div class="muted">slot ' + esc(fmtUtc(s.prev_slot) || "–") +
              " → " + esc(fmtUtc(s.next_slot) || "–") +
              (s.backoff_seconds && /skip/i.test(s.reason) ? " · retry backoff " + esc(fmtDuration(s.backoff_seconds)) : "") +
              "</div></div>";
          }).join(""));
      }).catch(function (e) {
        setHtml($("#explain-out"), '<div class="errorbox">' + esc(apiError(e)) + "</div>");
      });
    });

    return {
      refresh: function () {
        return Promise.all([get(base), get(base + "/runs?limit=50")]).then(function (res) {
          var p = res[0], runs = (res[1] && res[1].runs) || [];
          serverNow = p.at ? new Date(p.at) : null;
          var st = pipelineState(p);
          setHtml($("#p-title"), esc(p.pipeline) + " " + stateBadge(st));
          setHtml($("#p-sub"), esc(endpoint(p.source)) + " → " + esc(endpoint(p.destination)) +
            " · freshness: " + freshnessCell(p) + aggregateLine(p) +
            (p.columns || []).filter(function (c) { return c.expr; }).map(function (c) {
              return '<div class="small muted">computed: ' + esc(c.name) + " = " + esc(c.expr) + "</div>";
            }).join("") + ignoredLine(p) + lookupLines(p));
          if (!actionsDrawn) {
            setHtml($("#p-actions"), actionButtons(name, p.strategies));
            wireActions($("#p-actions"), name, function () { actionsDrawn = false; current.refresh(); });
            actionsDrawn = true;
          }
          if (!$("#explain-at").value && p.at) $("#explain-at").value = p.at.slice(0, 19) + "Z";
          setHtml($("#strategies tbody"), (p.strategies || []).map(function (s) {
            var ss = strategyState(s);
            return '<tr class="' + (ss === "paused" || ss === "failed" ? "attention " + ss : "") + '">' +
              '<td><span class="name">' + esc(s.strategy) + '</span><div class="small muted">' + esc(s.type) +
              (s.strategy === p.selected ? " · would run now" : "") + "</div>" +
              (s.type === "delta" ? '<div class="small muted wm" title="the delta watermark: the next run reads rows past it">watermark: ' +
               (s.watermark ? '<span class="mono">' + esc(s.watermark) + "</span>" : "none yet (the next run reads every row)") +
               "</div>" : "") + (s.type === "cdc" ? slotHtml(s) : "") + "</td>" +
              "<td>" + statusBadge(ss) + (s.paused_by === "operator" ? ' <span class="small muted">by operator</span>' : "") + "</td>" +
              '<td class="mono small">' + esc(s.cron || "manual only") + (s.timezone ? " " + esc(s.timezone) : "") + "</td>" +
              '<td class="nowrap">' + timeCell(s.last_run_at) + "</td>" +
              '<td class="nowrap">' + timeCell(s.last_attempted_at) + "</td>" +
              '<td class="nowrap">' + (s.paused ? '<span class="muted">paused</span>' : nextCell(s.next_fire_at)) + "</td>" +
              '<td class="num">' + esc(s.retry_count) + "</td>" +
              '<td class="reason">' + whyHtml(s, false) +
              (s.status === "running" && s.run_id ? ' <a class="small" href="#/run/' + esc(s.run_id) +
               '">follow run ' + esc(s.run_id) + "</a>" : "") + "</td></tr>";
          }).join(""));
          setHtml($("#chart"), chartSvg(runs));
          setHtml($("#history tbody"), historyRows(runs));
        });
      }
    };
  }

  function logHtml(lines) {
    if (!lines || !lines.length) return '<div class="empty" style="color:#94a3b8">No log lines were kept for this run.</div>';
    return lines.map(function (l, i) {
      var m = /^(\S+) (debug|info|warn|error) (\S+) (.*)$/.exec(l);
      var body = m ? '<span class="t" title="' + esc(m[1]) + '">' + esc((m[1].split("T")[1] || m[1]).replace("Z", "")) +
        '</span> <span class="lv-' + m[2] + '">' +
        esc(m[2].toUpperCase()) + "</span> " + '<span class="t">' + esc(m[3]) + "</span> " +
        (m[2] === "error" ? '<span class="lv-error">' + esc(m[4]) + "</span>" : esc(m[4])) : esc(l);
      return '<div class="ln"><span class="no">' + (i + 1) + "</span><span>" + body + "</span></div>";
    }).join("");
  }

  // A running run's figures: a bar when the total is known, rate and ETA.
  function progressPanel(pr, r) {
    if (!pr)
      return '<div class="panel progress" id="r-progress"><div class="muted">Running since ' +
        esc(fmtUtc(r.started_at) || "–") + ": no figures published yet (a run publishes its " +
        "first figures after its first batch, then every 5 s).</div></div>";
    var pct = pr.rows_expected && pr.rows_expected > pr.rows_read ? 100 * pr.rows_read / pr.rows_expected : null;
    return '<div class="panel progress" id="r-progress">' +
      '<div class="ptext"><b>' + esc(progressText(pr)) + "</b></div>" +
      (pct != null ? '<div class="bar"><span style="width:' + pct.toFixed(1) + '%"></span></div>' : "") +
      '<div class="small muted">figures of ' + esc(fmtUtc(pr.at)) + " (" + esc(ago(pr.at)) + ")" +
      (pct != null ? "; the total is the source's estimate" : pr.rows_expected ?
       "; the source estimated ~" + num(pr.rows_expected) + " rows, already passed" : "; total unknown") +
      (pr.segments_expected ? "; segments " + num(pr.segments_compared) + " of ~" + num(pr.segments_expected) : "") +
      "</div></div>";
  }

  function runPage(id) {
    main.innerHTML = '<div class="crumbs"><a href="#/">Pipelines</a> / <span id="r-crumb"></span></div>' +
      '<h1 id="r-title">Run ' + esc(id) + "</h1>" + '<div id="r-body"><div class="empty">Loading…</div></div>';
    var done = false;
    return {
      refresh: function () {
        if (done) return Promise.resolve();
        return get("/api/v1/runs/" + encodeURIComponent(id)).then(function (r) {
          // a finished run does not change; a pending or running one is polled
          serverNow = null;
          done = ["success", "failed", "skipped", "interrupted", "lost"].indexOf(r.status) >= 0;
          setHtml($("#r-crumb"), '<a href="#/p/' + encodeURIComponent(r.pipeline) + '">' + esc(r.pipeline) + "</a> /");
          setHtml($("#r-title"), "Run " + esc(r.run_id) + " · " + esc(r.pipeline) + ":" + esc(r.strategy) +
            " " + statusBadge(r.status));
          var pr = r.progress, running = r.status === "running";
          $("#r-body").innerHTML =
            (r.error ? '<div class="errorbox">' + esc(r.error) + "</div>" : "") +
            (running ? progressPanel(pr, r) : "") +
            '<div class="cards stats">' +
            (running ? stat(fmtDuration(r.started_at ? (new Date() - parseTime(r.started_at)) / 1000 : null), "running for")
                     : stat(fmtDuration(r.duration_s), "duration")) +
            (r.waiting_s != null && r.waiting_s >= 0.5 ? stat(fmtDuration(r.waiting_s), "waiting for locks") : "") +
            stat(num(r.rows_read), "rows read") + stat(num(r.rows_inserted), "inserted") +
            stat(num(r.rows_updated), "updated") + stat(num(r.rows_deleted), "deleted") +
            (r.segments_compared ? stat(num(r.segments_compared), "segments compared") : "") +
            stat(r.retry_count, "failures in a row") + "</div>" +
            '<div class="panel kv">' +
            "<div>Started</div><div>" + esc(fmtUtc(r.started_at) || "–") + ' <span class="muted">(' + esc(ago(r.started_at)) + ")</span></div>" +
            "<div>Finished</div><div>" + esc(fmtUtc(r.finished_at) || "–") + "</div>" +
            "<div>Worker</div><div class=\"mono\">" + esc(r.worker || "–") + "</div>" +
            (r.message && r.message !== r.error ? "<div>Message</div><div>" + esc(r.message) + "</div>" : "") +
            "</div>" +
            "<h2>Log</h2><div class=\"log\" id=\"log\">" + (done ? logHtml(r.log) :
              '<div class="empty" style="color:#94a3b8">The run is ' + esc(r.status) +
              "; its log appears here when it has finished.</div>") + "</div>";
        }).catch(function (e) {
          if (e.status === 404) {
            setHtml($("#r-body"), '<div class="panel empty">Run ' + esc(id) +
              " has not finished yet (or was pruned by the history retention). " +
              "This page updates by itself when it finishes.</div>");
            return;
          }
          throw e;
        });
      }
    };
  }

  function locksPage() {
    main.innerHTML = '<h1>Locks</h1><div class="sub">Held now. A pipeline lock means a run is in progress; ' +
      "an exclusive table lock means a schema change.</div>" +
      '<div class="panel"><table id="locks"><thead><tr><th>Kind</th><th>Key</th><th>Mode</th>' +
      '<th class="num">Fencing token</th><th class="num">Holders</th><th>Lease expires</th></tr></thead>' +
      "<tbody></tbody></table></div>";
    return {
      refresh: function () {
        return get("/api/v1/locks").then(function (d) {
          var ls = d.locks || [];
          setHtml($("#locks tbody"), ls.length ? ls.map(function (l) {
            var m = /^synctool:(?:exec|enqueue):pipeline:(.+)$/.exec(l.key);
            var what = m ? ' <a href="#/p/' + encodeURIComponent(m[1]) + '">' + esc(m[1]) + "</a>" : "";
            return "<tr><td>" + esc(l.kind) + what + '</td><td class="mono">' + esc(l.key) + "</td><td>" + esc(l.mode) +
              '</td><td class="num">' + esc(l.fence) +
              '</td><td class="num">' + esc(l.holders) + '</td><td class="nowrap">' + timeCell(l.expires_at, "–") +
              "</td></tr>";
          }).join("") : '<tr><td colspan="6" class="empty">No lock is held: nothing is running.</td></tr>');
        });
      }
    };
  }

  function workersPage() {
    main.innerHTML = '<h1>Workers</h1><div id="w-sub" class="sub"></div>' +
      '<div class="panel"><table id="workers"><thead><tr><th>Name</th><th>Kind</th><th>Role</th>' +
      "<th>State</th><th>Last heartbeat</th></tr></thead><tbody></tbody></table></div>" +
      '<h2>Alerts</h2><div id="a-sub" class="sub"></div>' +
      '<div class="panel"><table id="alerts"><thead><tr><th>Alert</th><th>Status</th>' +
      "<th>Pipeline</th><th>Event</th><th>Attempts</th><th>Next attempt</th><th>Last error</th>" +
      "</tr></thead><tbody></tbody></table></div>";
    function drawAlerts(a) {
      setHtml($("#a-sub"), esc(a.pending) + " waiting for delivery (retried), " + esc(a.failed) +
        " given up, " + esc(a.delivered) + " delivered in the last 7 days.");
      var open = (a.alerts || []).filter(function (x) { return x.status !== "delivered"; });
      setHtml($("#alerts tbody"), open.length ? open.map(function (x) {
        return '<tr data-alert="' + esc(x.id) + '"><td class="num">' + esc(x.id) + "</td><td>" +
          '<span class="badge ' + (x.status === "failed" ? "b-failed" : "b-paused") + '">' +
          esc(x.status) + "</span></td><td>" + esc(x.pipeline) +
          (x.strategy ? ":" + esc(x.strategy) : "") + "</td><td>" + esc(x.event) +
          '</td><td class="num">' + esc(x.attempts) + '</td><td class="nowrap">' +
          timeCell(x.next_attempt_at, "–") + '</td><td class="small">' +
          esc(truncate(x.last_error || "", 140)) + "</td></tr>";
      }).join("") : '<tr><td colspan="7" class="empty">No alert is waiting for delivery.</td></tr>');
    }
    return {
      refresh: function () {
        get("/api/v1/alerts?limit=200").then(drawAlerts, function (e) {
          $("#a-sub").textContent = "Alerts: " + apiError(e);
        });
        return get("/api/v1/workers").then(function (d) {
          serverNow = null;
          var ws = d.workers || [];
          setHtml($("#w-sub"), d.leader ? "Leading scheduler: <b>" + esc(d.leader) + "</b>" :
            '<span style="color:var(--bad)">No scheduler leads: nothing is being scheduled.</span>');
          setHtml($("#workers tbody"), ws.length ? ws.map(function (w) {
            var t = parseTime(w.last_heartbeat_at), age = t ? (new Date() - t) / 1000 : null;
            var stale = w.alive === false || (w.alive == null && age != null && age > 90);
            var role = w.kind === "scheduler" ? (w.leader ? "leader: schedules runs" : "standby") :
                       w.kind === "worker" ? "runs jobs" : "API and dashboard";
            return '<tr><td class="mono">' + esc(w.name) + "</td><td>" + esc(w.kind) + "</td><td>" +
              esc(role) + "</td><td>" + (stale ? '<span class="badge b-failed">silent</span>' :
              '<span class="badge b-ok">alive</span>') + '</td><td class="nowrap">' +
              timeCell(w.last_heartbeat_at) + "</td></tr>";
          }).join("") : '<tr><td colspan="5" class="empty">No scheduler or worker has reported yet.</td></tr>');
        });
      }
    };
  }

  // --- the deployment's state, above every page ------------------------------

  function statusItem(kind, html) {
    return '<div class="status-item" data-status="' + kind + '">' + html + "</div>";
  }
  function drawStatus(d, e) {
    var items = [];
    if (e && e.status === 401)
      items.push(statusItem(e.token === "wrong" ? "token-wrong" : "token-missing", esc(apiError(e))));
    else if (e)
      items.push(statusItem("api-error", "The API does not answer: " + esc(e.message || String(e))));
    if (d && d.scheduler && !d.scheduler.up)
      items.push(statusItem("no-scheduler", "<b>No scheduler is running</b>: nothing runs on its " +
        "schedule, only runs started by hand. " + (d.scheduler.live ? esc(d.scheduler.live) +
        " scheduler process" + (d.scheduler.live === 1 ? "" : "es") + " reported in the last " +
        "minute, but none holds the leader lease (stopped, or all standing by)." :
        "Start <code>synctool scheduler</code> (or find out why it stopped).")));
    if (d && d.config && !d.config.valid)
      items.push(statusItem("config-invalid", "<b>The config on disk is invalid</b>" +
        (d.config.invalid_files ? " (" + esc(d.config.invalid_files) + " file" +
         (d.config.invalid_files === 1 ? "" : "s") + ")" : "") + ": " + esc(d.config.problem) +
        '. This server goes on with the last valid config; run <code>synctool validate</code>.'));
    setHtml(statusBox, items.join(""));
    statusBox.hidden = !items.length;
  }
  function refreshStatus() {
    return get("/api/v1/workers").then(function (d) {
      schedulerUp = d.scheduler ? d.scheduler.up : null;
      drawStatus(d, null);
    }, function (e) {
      drawStatus(null, e);
    });
  }

  // --- router and refresh ----------------------------------------------------

  function route() {
    var h = location.hash.replace(/^#/, "") || "/";
    var m, nav = "pipelines";
    hideBanner();
    if ((m = /^\/p\/(.+)$/.exec(h))) current = pipelinePage(decodeURIComponent(m[1]));
    else if ((m = /^\/run\/(\d+)$/.exec(h))) current = runPage(m[1]);
    else if (h === "/locks") { current = locksPage(); nav = "locks"; }
    else if (h === "/workers") { current = workersPage(); nav = "workers"; }
    else current = pipelinesPage();
    document.querySelectorAll("[data-nav]").forEach(function (a) {
      a.classList.toggle("active", a.getAttribute("data-nav") === nav);
    });
    refresh();
  }

  function refresh() {
    clearTimeout(timer);
    var page = current;
    refreshStatus().then(function () { return page.refresh(); }).then(function () {
      if (page !== current) return;
      $("#refreshed").textContent = "updated " + clockUtc(new Date());
      if (!banner.classList.contains("info")) hideBanner();
    }).catch(function (e) {
      // a refused token is said once, in the status above the page
      if (page === current && e.status !== 401) showBanner(esc(apiError(e)));
      if (page === current && e.status === 401) {
        hideBanner();
        main.querySelectorAll(".empty").forEach(function (el) {
          if (/^Loading/.test(el.textContent)) el.textContent = "Nothing to show without the API token (see above).";
        });
      }
    }).then(function () {
      if (page === current) timer = setTimeout(tick, REFRESH_MS);
    });
  }
  function tick() { if (document.hidden) timer = setTimeout(tick, REFRESH_MS); else refresh(); }

  function drawToken() {
    var set = !!token();
    $("#token-form").classList.toggle("set", set);
    $("#token-input").value = "";
    $("#token-input").placeholder = set ? "token set for this tab" : "paste to enable actions";
    $("#token-clear").hidden = !set;
  }
  $("#token-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var v = $("#token-input").value.trim();
    if (v) sessionStorage.setItem(TOKEN_KEY, v);
    drawToken();
    route();
  });
  $("#token-clear").addEventListener("click", function () {
    sessionStorage.removeItem(TOKEN_KEY);
    drawToken();
    route();
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  window.addEventListener("hashchange", route);
  drawToken();
  route();
})();
