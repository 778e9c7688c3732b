// syncbeat dashboard: polls the JSON API every second and updates the server-rendered
// page in place. Data only ever reaches the page through textContent and attributes,
// never innerHTML. The formatting mirrors the Jinja filters in dashboard.py.
"use strict";

(() => {
  const POLL_MS = 1000;
  const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  // -- formatting (same output as dashboard.py's filters) -----------------------------
  const fmt = {
    number: (n) => numberFormat.format(n),
    percent: (p) => (p === null ? "–" : p >= 100 ? "100%" : `${p.toFixed(1)}%`),
    rate: (r) => (r === null ? "–" : numberFormat.format(r)),
    duration(seconds) {
      const total = Math.round(seconds);
      const h = Math.floor(total / 3600);
      const m = Math.floor((total % 3600) / 60);
      const s = String(total % 60).padStart(2, "0");
      return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
    },
    age(seconds) {
      if (seconds === null) return "–";
      if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)} s`;
      if (seconds < 60) return `${Math.round(seconds)} s`;
      return fmt.duration(seconds);
    },
    rows(job) {
      const done = fmt.number(job.rows_done);
      return job.rows_total === null ? `${done} rows` : `${done} / ${fmt.number(job.rows_total)} rows`;
    },
    eta(job) {
      if (job.status !== "running" || job.stale) return "–";
      return job.eta_seconds === null ? "unknown" : fmt.duration(job.eta_seconds);
    },
    attempt: (job) => `${job.attempt} of ${job.max_attempts}`,
    when(iso) {
      if (!iso) return "–";
      const d = new Date(iso);
      const p = (n) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${fmt.clock(d)}`;
    },
    clock(d) {
      const p = (n) => String(n).padStart(2, "0");
      return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    },
  };

  // A running job's heartbeat is stale when its lease has expired, or when more than half
  // of the lease went by without a renewal (a healthy worker renews several times per
  // lease). heartbeat age + time left = the lease's TTL.
  function isStale(job) {
    const age = job.heartbeat_age_seconds;
    const left = job.lease_expires_in_seconds;
    if (age === null || left === null) return false;
    return left < 0 || age > (age + left) / 2;
  }

  // -- page plumbing ----------------------------------------------------------------------
  const live = document.getElementById("live");
  const liveText = document.getElementById("live-text");

  function setLive(ok) {
    live.classList.toggle("offline", !ok);
    liveText.textContent = ok ? "Live" : "Reconnecting…";
  }

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) {
      window.location.reload(); // the session ended: the page answers with the sign-in form
      throw new Error("signed out");
    }
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  function poll(step) {
    const tick = async () => {
      try {
        await step();
        setLive(true);
      } catch (error) {
        setLive(false);
      }
      window.setTimeout(tick, POLL_MS);
    };
    window.setTimeout(tick, POLL_MS);
  }

  function field(scope, name) {
    return scope.querySelector(`[data-f="${name}"]`);
  }

  function setText(scope, name, text) {
    const el = field(scope, name);
    if (el && el.textContent !== text) el.textContent = text;
  }

  const STATUS_CLASSES = ["queued", "running", "completed", "failed", "paused", "cancelled", "stale"];
  // A running job whose lease expired: its process is gone or frozen, whatever it last said.
  const shownStatus = (job) => (job.stale ? "stale" : job.status);

  function setStatusClass(el, status) {
    el.classList.remove(...STATUS_CLASSES);
    el.classList.add(status);
  }

  // The cells shared by a table row and the job page; a scope fills those it has.
  function fillJob(scope, job) {
    const status = field(scope, "status");
    if (status) {
      setStatusClass(status, shownStatus(job));
      status.textContent = shownStatus(job);
    }
    const requested = field(scope, "requested");
    if (requested) {
      const pending = job.status === "running" && job.requested;
      requested.hidden = !pending;
      requested.textContent = pending ? `${job.requested} requested` : "";
    }
    const bar = field(scope, "bar");
    if (bar) {
      const pct = job.percent === null ? 0 : job.percent;
      setStatusClass(bar, job.status);
      bar.setAttribute("aria-valuenow", pct.toFixed(1));
      bar.firstElementChild.style.width = `${pct.toFixed(1)}%`;
    }
    setText(scope, "percent", fmt.percent(job.percent));
    setText(scope, "rows", fmt.rows(job));
    setText(scope, "rate", fmt.rate(job.rows_per_second));
    setText(scope, "eta", fmt.eta(job));
    const heartbeat = field(scope, "heartbeat");
    if (heartbeat) {
      heartbeat.textContent = fmt.age(job.heartbeat_age_seconds);
      heartbeat.classList.toggle("stale", isStale(job));
    }
    setText(scope, "owner", job.owner || "–");
    setText(scope, "attempt", fmt.attempt(job));
  }

  // -- the jobs table -----------------------------------------------------------------------
  function jobsPage() {
    const body = document.getElementById("jobs-body");
    const template = document.getElementById("job-row-template");
    const params = new URLSearchParams({ limit: document.body.dataset.limit });
    if (document.body.dataset.status) params.set("status", document.body.dataset.status);

    function fillRow(tr, job) {
      tr.dataset.jobId = String(job.id);
      field(tr, "link").href = `/ui/jobs/${job.id}`;
      setText(tr, "pipeline", job.pipeline);
      setText(tr, "id", `#${job.id}`);
      setText(tr, "kind", job.kind);
      fillJob(tr, job);
      const error = field(tr, "error");
      error.textContent = job.last_error || "";
      error.title = job.last_error || "";
    }

    function renderJobs(page) {
      const existing = new Map([...body.rows].map((tr) => [tr.dataset.jobId, tr]));
      const wanted = page.items.map((job) => {
        let tr = existing.get(String(job.id));
        if (!tr) tr = template.content.firstElementChild.cloneNode(true);
        fillRow(tr, job);
        return tr;
      });
      // Reorder (or insert) only when needed: moving a row restarts its bar's transition.
      const same = wanted.length === body.rows.length && wanted.every((tr, i) => body.rows[i] === tr);
      if (!same) body.replaceChildren(...wanted);
      document.getElementById("jobs-empty").hidden = wanted.length > 0;
      const shown = page.items.length;
      document.getElementById("jobs-summary").textContent =
        page.total > shown ? `newest ${shown} of ${fmt.number(page.total)}` : "";
    }

    function renderCounts(counts) {
      for (const el of document.querySelectorAll("[data-count]")) {
        const state = el.dataset.count;
        const n = state === "all" ? Object.values(counts).reduce((a, b) => a + b, 0) : counts[state] || 0;
        el.textContent = fmt.number(n);
      }
    }

    function renderWorkers(workers) {
      const rows = workers.map((w) => {
        const tr = document.createElement("tr");
        const cell = (text, cls) => {
          const td = document.createElement("td");
          if (cls) td.className = cls;
          td.textContent = text;
          tr.appendChild(td);
          return td;
        };
        const name = cell(w.name, "mono");
        const dot = document.createElement("span");
        dot.className = w.alive ? "dot" : "dot down";
        name.prepend(dot);
        cell(w.host);
        cell(String(w.pid), "num");
        cell(w.jobs.length ? w.jobs.map((id) => `#${id}`).join(", ") : "idle");
        cell(fmt.age(w.heartbeat_age_seconds), w.alive ? "num" : "num stale");
        return tr;
      });
      document.getElementById("workers-body").replaceChildren(...rows);
      document.getElementById("workers-empty").hidden = rows.length > 0;
      const alive = workers.filter((w) => w.alive).length;
      document.getElementById("workers-summary").textContent = `${alive} alive`;
    }

    poll(async () => {
      const [page, summary, workers] = await Promise.all([
        getJSON(`/jobs?${params}`),
        getJSON("/ui/counts"),
        getJSON("/workers"),
      ]);
      renderJobs(page);
      renderCounts(summary.counts);
      renderWorkers(workers.items || workers);
    });
  }

  // -- one job --------------------------------------------------------------------------------
  function jobPage() {
    const jobId = document.body.dataset.jobId;
    const card = document.getElementById("job-card");
    const head = document.querySelector(".page-head");
    const notice = document.getElementById("action-error");
    const buttons = [...document.querySelectorAll("[data-action]")];
    const allowed = {
      pause: ["queued", "running"],
      resume: ["paused", "failed"],
      cancel: ["queued", "running", "paused", "failed"],
    };
    let busy = false;
    let lastJob = null;

    function render(job) {
      lastJob = job;
      fillJob(head, job);
      fillJob(card, job);
      setText(card, "lease_epoch", String(job.lease_epoch));
      setText(card, "started_at", fmt.when(job.started_at));
      setText(card, "finished_at", fmt.when(job.finished_at));
      setText(document, "checkpoint", job.checkpoint ? JSON.stringify(job.checkpoint, null, 2) : "–");
      const error = field(card, "error");
      error.hidden = !job.last_error;
      error.textContent = job.last_error || "";
      for (const button of buttons) {
        const pendingPause = button.dataset.action === "pause" && job.requested === "pause";
        button.disabled = busy || pendingPause || !allowed[button.dataset.action].includes(job.status);
      }
      document.title = `Job ${job.id} · ${job.pipeline} · ${job.status} · syncbeat`;
    }

    // Throughput: rows/s between batch events (their rows_done is cumulative, so any
    // two of them give the rate in between, however many were missed between polls).
    const samples = new Map(); // event id -> [epoch seconds, rows_done]
    for (const [id, at, rows] of JSON.parse(document.getElementById("chart-seed").textContent)) {
      samples.set(id, [at, rows]);
    }

    function addEvents(events) {
      for (const e of events) {
        if (e.kind === "batch" && e.data && typeof e.data.rows_done === "number") {
          samples.set(e.id, [Date.parse(e.at) / 1000, e.data.rows_done]);
        }
      }
      if (samples.size > 5000) {
        const oldest = [...samples.keys()].sort((a, b) => a - b).slice(0, samples.size - 5000);
        for (const id of oldest) samples.delete(id);
      }
    }

    function drawChart() {
      const points = [...samples.values()].sort((a, b) => a[0] - b[0]);
      const span = points.length > 1 ? points[points.length - 1][0] - points[0][0] : 0;
      const svg = document.getElementById("chart");
      const area = svg.querySelector(".area");
      const line = svg.querySelector(".line");
      if (span <= 0) {
        area.setAttribute("d", "");
        line.setAttribute("d", "");
        return;
      }
      const buckets = Math.max(2, Math.min(60, Math.ceil(span)));
      const width = span / buckets;
      const rowsAt = (t) => {
        let i = 1;
        while (i < points.length - 1 && points[i][0] < t) i += 1;
        const [t0, r0] = points[i - 1];
        const [t1, r1] = points[i];
        return t1 === t0 ? r1 : r0 + ((r1 - r0) * (t - t0)) / (t1 - t0);
      };
      const rates = [];
      for (let k = 0; k < buckets; k += 1) {
        const a = points[0][0] + k * width;
        rates.push(Math.max(0, (rowsAt(a + width) - rowsAt(a)) / width));
      }
      const peak = Math.max(...rates, 1);
      const xy = rates.map((r, k) => [(k / (buckets - 1)) * 600, 136 - (r / peak) * 126]);
      const d = xy.map(([x, y], k) => `${k ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
      line.setAttribute("d", d);
      area.setAttribute("d", `${d} L600,140 L0,140 Z`);
      document.getElementById("chart-span").textContent =
        span < 120 ? `last ${Math.round(span)} s` : `last ${Math.round(span / 60)} min`;
      document.getElementById("chart-peak").textContent = `peak ${fmt.number(peak)} rows/s`;
    }

    function renderEvents(events) {
      const items = [...events].reverse().map((e) => {
        const li = document.createElement("li");
        const time = document.createElement("time");
        time.dateTime = e.at;
        time.textContent = fmt.clock(new Date(e.at));
        const kind = document.createElement("span");
        kind.className = `kind ${e.kind}`;
        kind.textContent = e.kind;
        const msg = document.createElement("span");
        msg.className = "msg";
        msg.textContent = e.message;
        li.append(time, kind, msg);
        return li;
      });
      document.getElementById("timeline").replaceChildren(...items);
    }

    // The API's error shape in words: its message, then its hint.
    function errorText(response, body) {
      const error = body && body.error;
      return error ? [error.message, error.hint].filter(Boolean).join(" ") : `HTTP ${response.status}`;
    }

    // A POST with this page's session cookie (the server tells it by its origin); a
    // signed-out session reloads the page into the sign-in form. Returns the response
    // and its JSON body (null when it has none).
    async function post(path) {
      const response = await fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.status === 401) window.location.reload();
      const body = await response.json().catch(() => null);
      return { response, body };
    }

    // One request at a time; a refusal (409: the job moved on meanwhile) is shown as the
    // API words it, with its hint.
    async function act(action) {
      busy = true;
      notice.hidden = true;
      for (const button of buttons) button.disabled = true;
      try {
        const { response, body } = await post(`/jobs/${jobId}/${action}`);
        if (response.ok && body) {
          lastJob = body;
        } else {
          notice.textContent = `Could not ${action} the job: ${errorText(response, body)}`;
          notice.hidden = false;
        }
      } catch (error) {
        notice.textContent = `Could not ${action} the job: the server did not answer.`;
        notice.hidden = false;
      } finally {
        busy = false;
        if (lastJob) render(lastJob);
      }
    }

    for (const button of buttons) {
      button.addEventListener("click", () => act(button.dataset.action));
    }

    // Verify: a POST like the buttons above, answered once the comparison is done,
    // however long that takes.
    const verifyButton = document.getElementById("verify");
    const verifyCard = document.getElementById("verify-card");

    function keysText(found) {
      const keys = found.keys.map((key) => (Array.isArray(key) ? JSON.stringify(key) : String(key)));
      const more = found.count > found.keys.length ? ", …" : "";
      return found.count ? `${fmt.number(found.count)} (first keys: ${keys.join(", ")}${more})` : "none";
    }

    function showReport(report) {
      const verdict = document.getElementById("verify-verdict");
      verdict.textContent = report.equal ? "Equal" : "Different";
      verdict.className = `verdict ${report.equal ? "equal" : "different"}`;
      document.getElementById("verify-rows").textContent =
        `${fmt.number(report.rows.source)} source rows, ${fmt.number(report.rows.destination)} ` +
        `destination rows; ${fmt.number(report.ranges_compared)} ranges compared in ${report.seconds} s`;
      document.getElementById("verify-details").hidden = report.equal;
      document.getElementById("verify-missing").textContent = keysText(report.missing);
      document.getElementById("verify-extra").textContent = keysText(report.extra);
      document.getElementById("verify-changed").textContent = keysText(report.changed);
      const columns = Object.entries(report.changed.columns);
      document.getElementById("verify-columns").textContent = columns.length
        ? columns.map(([name, n]) => `${name} (${fmt.number(n)})`).join(", ")
        : "none";
      const during = document.getElementById("verify-during");
      during.hidden = !report.changed_during_verify;
      during.textContent = report.changed_during_verify
        ? `${fmt.number(report.changed_during_verify)} rows changed while verify ran: not counted.`
        : "";
      verifyCard.hidden = false;
    }

    async function verify() {
      verifyButton.disabled = true;
      verifyButton.textContent = "Verifying…";
      notice.hidden = true;
      const pipeline = verifyButton.dataset.pipeline;
      try {
        const { response, body } = await post(`/pipelines/${encodeURIComponent(pipeline)}/verify`);
        if (response.ok && body) {
          showReport(body);
        } else {
          verifyCard.hidden = true;
          notice.textContent = `Could not verify pipeline ${pipeline}: ${errorText(response, body)}`;
          notice.hidden = false;
        }
      } catch (error) {
        notice.textContent = `Could not verify pipeline ${pipeline}: the server did not answer.`;
        notice.hidden = false;
      } finally {
        verifyButton.disabled = false;
        verifyButton.textContent = "Verify";
      }
    }

    verifyButton.addEventListener("click", verify);

    // Show times in the browser's own time zone from the start.
    for (const t of document.querySelectorAll("#timeline time")) {
      t.textContent = fmt.clock(new Date(t.dateTime));
    }
    drawChart();
    poll(async () => {
      const [job, events] = await Promise.all([
        getJSON(`/jobs/${jobId}`),
        getJSON(`/jobs/${jobId}/events?limit=50`),
      ]);
      const list = events.items || events;
      render(job);
      addEvents(list);
      renderEvents(list);
      drawChart();
    });
  }

  // The server renders each bar's value, not its width: the page's Content-Security-Policy
  // allows no inline style attribute, only styles set from this script.
  for (const bar of document.querySelectorAll('[data-f="bar"]')) {
    bar.firstElementChild.style.width = `${bar.getAttribute("aria-valuenow")}%`;
  }

  if (document.body.dataset.page === "jobs") jobsPage();
  if (document.body.dataset.page === "job") jobPage();
})();
