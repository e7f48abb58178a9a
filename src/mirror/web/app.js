// kferry mirror web view: polls /api/status (the document of `kferry status
// --json`) and /api/lag-history every 2 s and renders them.  No library; all
// text goes through textContent, so topic names can never become markup.
"use strict";
(function () {
  const REFRESH_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  function setText(id, text, cls) {
    const el = $(id);
    if (!el) return;
    el.textContent = text;
    if (cls !== undefined) el.className = el.className.replace(/\b(ok|warn|bad)\b/g, "").trim() + (cls ? " " + cls : "");
  }
  function int(v) { return typeof v === "number" && isFinite(v) ? v : 0; }
  function group3(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function bytes(n) {
    if (!(n > 0)) return "0 B";
    const u = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + u[i];
  }
  function duration(s) {
    if (s < 0) return "unknown";
    if (s < 60) return (Math.round(s * 10) / 10) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.round((s % 86400) / 3600) + " h";
  }
  function ago(ms) {
    if (!(ms > 0)) return "never";
    return duration(Math.max(0, (Date.now() - ms) / 1000)) + " ago";
  }

  // retention risk of one partition: how much of the source's retention
  // time the oldest unmirrored record has used up (needs retention_ms)
  function risk(p) {
    if (!p.ok) return { text: "unknown", cls: "" };
    if (p.gap_records > 0) return { text: "gap: " + group3(p.gap_records) + " lost", cls: "bad" };
    if (p.lag_records <= 0) return { text: "none (caught up)", cls: "ok" };
    const r = p.retention_ms;
    if (typeof r !== "number") return { text: "n/a", cls: "" };
    if (r < 0) return { text: "none (no time limit)", cls: "ok" };
    const used = (p.lag_seconds * 1000) / r;
    // how long until the source may delete the oldest record still waiting
    const left = Math.max(0, (r - p.lag_seconds * 1000) / 1000);
    const pct = Math.round(used * 100) + "% of retention, deleted in " + duration(left);
    if (used >= 0.8) return { text: "HIGH " + pct, cls: "bad" };
    if (used >= 0.5) return { text: "watch " + pct, cls: "warn" };
    return { text: "low " + pct, cls: "ok" };
  }

  const COLS = [
    ["topic", (p) => p.topic, ""],
    ["target_topic", (p) => p.target_topic, ""],
    ["partition", (p) => String(p.partition), "num"],
    ["source_start", (p) => String(p.source_start), "num"],
    ["source_end", (p) => String(p.source_end), "num"],
    ["mirrored", (p) => String(p.mirrored), "num"],
    ["lag_records", (p) => String(p.lag_records), "num"],
    ["lag_bytes_approx", (p) => bytes(p.lag_bytes_approx), "num"],
    ["lag_seconds", (p) => String(p.lag_seconds), "num"],
    ["eta_seconds_approx", (p) => (p.eta_seconds_approx < 0 ? "unknown" : duration(p.eta_seconds_approx)), "num"],
    ["gap_records", (p) => String(p.gap_records), "num"],
    ["loop_skipped", (p) => String(p.loop_skipped), "num"],
  ];

  function renderRows(parts) {
    const body = $("partition-rows");
    const seen = new Set();
    parts.forEach((p, idx) => {
      const key = p.topic + "\u0000" + p.partition;
      seen.add(key);
      let tr = null;
      for (const r of body.children) if (r.dataset.key === key) { tr = r; break; }
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.key = key;
        tr.dataset.topic = p.topic;
        tr.dataset.partition = String(p.partition);
        tr.id = "p-" + encodeURIComponent(p.topic) + "-" + p.partition;
        for (const [field, , cls] of COLS.concat([["retention_risk", null, ""]])) {
          const td = document.createElement("td");
          td.dataset.field = field;
          if (cls) td.className = cls;
          tr.appendChild(td);
        }
      }
      if (body.children[idx] !== tr) body.insertBefore(tr, body.children[idx] || null);
      const cells = tr.children;
      COLS.forEach(([field, fmt], i) => {
        cells[i].textContent = p.ok || i < 3 ? fmt(p) : "–";
        const v = p[field];
        cells[i].dataset.value = typeof v === "number" ? String(v) : String(v === undefined ? "" : v);
      });
      const rk = risk(p);
      const rc = cells[COLS.length];
      rc.textContent = rk.text;
      rc.className = rk.cls;
      tr.className = "partition" + (p.ok ? "" : " unavailable") + (p.lag_records > 0 ? " lagging" : "") + (p.gap_records > 0 ? " gap" : "");
    });
    for (const r of Array.from(body.children)) if (!seen.has(r.dataset.key)) r.remove();
  }

  // the cutover journal: one row per group cutover and producer gate,
  // its latest generation (as `kferry status --json` "cutover")
  function renderCutover(c) {
    const body = $("cutover-rows");
    while (body.firstChild) body.removeChild(body.firstChild);
    const entries = (c && c.entries) || [];
    $("cutover-note").textContent = c && c.readable === false ? "journal unreadable: " + c.error :
      entries.length ? "" : "no cutover yet (kferry cutover writes its steps here)";
    for (const e of entries) {
      const tr = document.createElement("tr");
      tr.className = "cutover " + (e.done ? "done" : "running");
      tr.dataset.kind = e.kind;
      tr.dataset.name = e.name;
      const cells = [
        ["kind", e.kind], ["name", e.name], ["generation", String(e.generation)],
        ["state", e.done ? "done" : "in progress"],
        ["last_step", e.last_step + " (" + ago(e.last_ms) + ")"],
        ["steps", e.steps.map((x) => x.step).join(" → ")],
      ];
      for (const [f, text] of cells) {
        const td = document.createElement("td");
        td.dataset.field = f;
        td.textContent = text;
        if (f === "generation") td.className = "num";
        if (f === "state") td.className = e.done ? "ok" : "warn";
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }

  function renderSummary(s) {
    setText("flow", s.flow || "?");
    const m = s.mirror;
    if (!m) {
      setText("mirror-state", "never ran", "warn");
      setText("mirror-rate", "");
    } else {
      setText("mirror-state", m.running ? "running" : "stopped", m.running ? "ok" : "warn");
      const rps = int(m.recent_records_per_s);
      setText("mirror-rate", group3(Math.round(rps)) + " records/s recently (~" +
        bytes(Math.round(rps * int(m.avg_record_bytes))) + "/s); " + group3(int(m.records_total)) +
        " mirrored by this run; last report " + ago(m.updated_ms));
    }
    setText("total-lag", group3(int(s.total_lag_records)), s.total_lag_records > 0 ? "warn" : "ok");
    setText("eta", s.eta_seconds < 0 ? (s.total_lag_records > 0 ? "unknown" : "–") : duration(s.eta_seconds));
    setText("gaps", group3(int(s.gap_records)), s.gap_records > 0 ? "bad" : "ok");
    const lk = s.lock || {};
    if (lk.error) {
      setText("lock", "unknown", "warn");
      setText("standbys", lk.error);
    } else if (lk.holder) {
      setText("lock", "held by " + lk.holder.client_id + " (" + lk.holder.host + ")", "ok");
      setText("standbys", (lk.standbys && lk.standbys.length ? "standby: " + lk.standbys.join(", ") : "no standby") + "; group " + lk.group);
    } else {
      setText("lock", "no holder (" + (lk.state || "?") + ")", "warn");
      setText("standbys", "group " + (lk.group || "?"));
    }
    const cs = m && m.config_sync;
    if (!cs) { setText("config-sync", "unknown"); setText("config-sync-sub", ""); }
    else if (!cs.enabled) { setText("config-sync", "off", ""); setText("config-sync-sub", "sync.topic.configs.enabled=false"); }
    else if (!cs.last_ms) { setText("config-sync", "no round yet", ""); setText("config-sync-sub", "every " + cs.interval_s + " s"); }
    else {
      setText("config-sync", cs.failed ? cs.failed + " topic(s) failed" : "in sync", cs.failed ? "bad" : "ok");
      setText("config-sync-sub", cs.topics + " topic(s) compared, " + cs.changed + " changed, " + ago(cs.last_ms) + "; every " + cs.interval_s + " s");
    }
    const gs = m && m.group_sync;
    if (!gs) { setText("group-sync", "unknown"); setText("group-sync-sub", ""); }
    else if (!gs.enabled) { setText("group-sync", "off", ""); setText("group-sync-sub", "sync.group.offsets.enabled=false or not started"); }
    else if (!gs.last_ms) { setText("group-sync", "no pass yet", ""); setText("group-sync-sub", "every " + gs.interval_s + " s"); }
    else {
      setText("group-sync", gs.failed ? gs.failed + " group(s) failed" : gs.groups + " group(s)", gs.failed ? "bad" : "ok");
      setText("group-sync-sub", gs.committed + " committed, " + gs.active + " active on target (not touched), " + gs.cut_over + " cut over; " + ago(gs.last_ms));
    }
    const nt = m ? int(m.transient_retries) : 0;
    setText("transient", String(nt), nt ? "warn" : "ok");
    setText("transient-sub", nt ? "last " + ago(m.last_transient_ms) + ": " + (m.last_transient || "") : "");
  }

  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // a y-axis top with four round steps: 4, 8, 2400, 60000, ...
  function niceMax(v) {
    const step = Math.max(1, v / 4);
    const unit = Math.pow(10, Math.floor(Math.log10(step)));
    return Math.max(4, Math.ceil(v / (4 * unit)) * 4 * unit);
  }
  function hhmmss(t) {
    const d = new Date(t);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, "0")).join(":");
  }

  function renderChart(h) {
    const svg = $("lag-chart");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const W = 900, H = 220, L = 64, R = 10, T = 10, B = 24;
    const s = (h && h.samples) || [];
    $("chart-note").textContent = s.length + " sample(s), one per " + ((h && h.interval_s) || "?") +
      " s (the mirror's status interval), last " + ((h && h.capacity) || "?") + " kept in memory";
    if (!s.length) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "no samples yet"));
      return;
    }
    const t0 = s[0].t, t1 = Math.max(s[s.length - 1].t, t0 + 1000);
    const ymax = niceMax(Math.max.apply(null, s.map((x) => x.lag)));
    const X = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const Y = (v) => T + (1 - v / ymax) * (H - T - B);
    for (let i = 0; i <= 4; i++) {
      const v = (ymax * i) / 4, y = Y(v);
      svg.appendChild(el("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
      svg.appendChild(el("text", { x: L - 6, y: y + 4, "text-anchor": "end", class: "axis" }, group3(Math.round(v))));
    }
    for (let i = 0; i <= 4; i++) {
      const t = t0 + ((t1 - t0) * i) / 4;
      svg.appendChild(el("text", { x: X(t), y: H - 6, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle", class: "axis" }, hhmmss(t)));
    }
    let d = "";
    s.forEach((p, i) => { d += (i ? "L" : "M") + X(p.t).toFixed(1) + " " + Y(p.lag).toFixed(1); });
    svg.appendChild(el("path", { d: d + "L" + X(s[s.length - 1].t).toFixed(1) + " " + Y(0) + "L" + X(t0).toFixed(1) + " " + Y(0) + "Z", class: "area" }));
    svg.appendChild(el("path", { d: d, class: "line", id: "lag-line", "data-samples": String(s.length) }));
  }

  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store" });
    const body = await r.json();
    if (!r.ok) throw new Error(url + ": " + (body.error || r.status));
    return body;
  }

  async function refresh() {
    try {
      const s = await getJSON("/api/status");
      renderSummary(s);
      renderRows(s.partitions || []);
      renderCutover(s.cutover);
      document.body.dataset.loaded = "1";
      $("error").hidden = true;
      setText("updated", "updated " + new Date().toLocaleTimeString());
    } catch (e) {
      $("error").hidden = false;
      $("error").textContent = "cannot read /api/status: " + e.message;
    }
    try {
      renderChart(await getJSON("/api/lag-history"));
    } catch (e) { /* the table is what matters; the chart waits for the next round */ }
    setTimeout(refresh, REFRESH_MS);
  }
  refresh();
})();
