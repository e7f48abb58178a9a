"""The web view next to /metrics (`kferry mirror` with kferry.metrics.port).

Two kferry-broker processes and a running mirror.  Over plain HTTP: the
page, its script and style, /api/status (the same document as `kferry
status --json`, compared field by field once the mirror is idle) and
/api/lag-history, with their content types and security headers.  Then
headless Chromium (Debian's `chromium`, installed by scripts/deps.sh; the
test fails if it is missing) loads the page, runs its JavaScript and dumps
the DOM: one row per mirrored partition whose source end, mirrored position
and lag equal `kferry status --json` taken right after, and the lag chart.
A screenshot goes to $KFERRY_ARTIFACTS_DIR (default: the test's tmp dir).
"""

import html.parser
import json
import os
import re
import shutil
import socket
import subprocess
import urllib.error
import urllib.request

from kf_util import cf_create_topic, cf_produce, unique, wait_until
from test_cutover import commit_standalone, run_kferry
from test_mirror_util import KferryProc, wait_mirrored, write_config

PARTS = 3


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read()


def keys_tree(v):
    """The structure of a JSON value: dicts by their keys, lists by their first element."""
    if isinstance(v, dict):
        return {k: keys_tree(x) for k, x in v.items()}
    if isinstance(v, list):
        return [keys_tree(v[0])] if v else []
    return type(v).__name__ if v is not None else None


class Rows(html.parser.HTMLParser):
    """Partition rows of the dumped DOM: {(topic, partition): {field: (text, value)}}."""

    def __init__(self):
        super().__init__()
        self.rows, self.ids, self.row, self.cell, self.text = {}, {}, None, None, ""
        self.cutover = {}  # (kind, name) -> {field: (text, value)}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids[a["id"]] = a
        if tag == "tr" and "partition" in (a.get("class") or "").split():
            self.row = {}
            self.rows[(a["data-topic"], int(a["data-partition"]))] = self.row
        elif tag == "tr" and "cutover" in (a.get("class") or "").split():
            self.row = {}
            self.cutover[(a["data-kind"], a["data-name"])] = self.row
        elif tag == "td" and self.row is not None and "data-field" in a:
            self.cell = (a["data-field"], a.get("data-value"))
            self.text = ""

    def handle_data(self, data):
        if self.cell:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "td" and self.cell:
            self.row[self.cell[0]] = (self.text.strip(), self.cell[1])
            self.cell = None
        elif tag == "tr":
            self.row = None


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed (scripts/deps.sh installs Debian's `chromium`)"
    return exe


def browse(url, tmp_path, *extra):
    cp = subprocess.run([chromium(), "--headless", "--disable-gpu", "--no-sandbox",
                         "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
                         "--user-data-dir=%s" % (tmp_path / "chromium-profile"),
                         "--virtual-time-budget=5000"] + list(extra) + [url],
                        capture_output=True, timeout=180)
    assert cp.returncode == 0, "chromium exited %d: %s" % (cp.returncode, cp.stderr.decode()[-3000:])
    return cp.stdout.decode("utf-8", "replace")


def test_webview(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    t = cf_create_topic(src.bootstrap, unique("web"), PARTS, config={"retention.ms": "86400000"})
    cf_produce(src.bootstrap, t, [dict(partition=i % PARTS, key=b"k%d" % i, value=b"v" * (i % 50))
                                  for i in range(1500)])
    port = free_port()
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, identity=True,
                       extra={"kferry.metrics.port": str(port),
                              "sync.topic.configs.interval.seconds": "1"})
    base = "http://127.0.0.1:%d" % port
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t, t, PARTS)
        # more records while it runs, then let it go idle
        cf_produce(src.bootstrap, t, [dict(partition=i % PARTS, value=b"w%d" % i)
                                      for i in range(900)])
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t, t, PARTS)

        # a group cut over: its journal shows in the status and on the page
        group = unique("webgrp")
        commit_standalone(src.bootstrap, group, t, {0: 100, 1: 200})
        run_kferry(kf, "cutover", "--group", group, "--timeout", "60", check=0)

        def idle():
            st = kf.status()
            ps = [p for p in st["partitions"] if p["topic"] == t]
            ok = (len(ps) == PARTS and st["total_lag_records"] == 0 and
                  all(p["mirrored"] == p["source_end"] for p in ps) and st["mirror"] and
                  st["mirror"]["config_sync"]["last_ms"] > 0)
            return ok and st
        cli = wait_until(idle, 60, "the mirror idle with lag 0 and one config-sync round",
                         interval=0.5)

        # (a) plain HTTP
        status, h, body = get(base + "/")
        assert status == 200, (status, body[:300])
        assert h["Content-Type"] == "text/html; charset=utf-8", h
        assert h["X-Content-Type-Options"] == "nosniff", h
        csp = h["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp, csp
        assert "unsafe-inline" not in csp and "http" not in csp, csp
        assert b'<script src="/app.js"' in body and b"<table" in body, body[:500]
        for path, ctype in (("/app.js", "text/javascript; charset=utf-8"),
                            ("/app.css", "text/css; charset=utf-8"),
                            ("/metrics", "text/plain; version=0.0.4; charset=utf-8")):
            status, h, b = get(base + path)
            assert status == 200 and h["Content-Type"] == ctype and len(b) > 100, (path, h)
            assert h["X-Content-Type-Options"] == "nosniff" and h["Content-Security-Policy"] == csp
        assert get(base + "/nothing-here")[0] == 404
        assert get(base + "/api/status", method="POST")[0] == 405

        status, h, body = get(base + "/api/status")
        assert status == 200 and h["Content-Type"] == "application/json; charset=utf-8", h
        assert h["Content-Security-Policy"] == csp and h["X-Content-Type-Options"] == "nosniff"
        api = json.loads(body)
        cli = kf.status()
        assert keys_tree(api) == keys_tree(cli), (keys_tree(api), keys_tree(cli))
        for k in ("flow", "map_topic", "total_lag_records", "gap_records"):
            assert api[k] == cli[k], (k, api[k], cli[k])
        assert api["flow"] == "src->dst" and api["total_lag_records"] == 0
        assert api["lock"]["holder"]["client_id"] == cli["lock"]["holder"]["client_id"]
        by = lambda doc: {(p["topic"], p["partition"]): p for p in doc["partitions"]}  # noqa: E731
        assert by(api).keys() == by(cli).keys()
        for key, p in by(cli).items():
            a = by(api)[key]
            for f in ("target_topic", "ok", "source_start", "source_end", "mirrored",
                      "lag_records", "gap_records", "loop_skipped", "retention_ms"):
                assert a[f] == p[f], (key, f, a[f], p[f])
        mine = [p for p in cli["partitions"] if p["topic"] == t]
        assert sum(p["source_end"] for p in mine) == 2400
        assert all(p["retention_ms"] == 86400000 for p in mine), mine
        ms = api["mirror"]
        assert ms["config_sync"]["enabled"] and ms["config_sync"]["topics"] >= 1, ms
        assert ms["config_sync"]["failed"] == 0 and "group_sync" in ms, ms

        # one sample a second: the mirror can be idle before the second one is taken
        def history():
            status, h, body = get(base + "/api/lag-history")
            assert status == 200 and h["Content-Type"] == "application/json; charset=utf-8", h
            hist = json.loads(body)
            return hist if len(hist["samples"]) >= 2 else None
        hist = wait_until(history, 10, "two lag-history samples", interval=0.5)
        assert hist["interval_s"] == 1 and hist["capacity"] > 0, hist
        assert len(hist["samples"]) >= 2, hist
        ts = [s["t"] for s in hist["samples"]]
        assert ts == sorted(ts) and all(s["lag"] >= 0 for s in hist["samples"]), hist
        assert hist["samples"][-1]["lag"] == 0 and hist["samples"][-1]["mirrored"] >= 2400, hist

        # (b) headless Chromium runs the page's JavaScript
        dom = browse(base + "/", tmp_path, "--dump-dom")
        cli = kf.status()
        parsed = Rows()
        parsed.feed(dom)
        want = {(p["topic"], p["partition"]): p for p in cli["partitions"]}
        assert set(parsed.rows) == set(want), (sorted(parsed.rows), sorted(want), dom[-3000:])
        for key, p in want.items():
            row = parsed.rows[key]
            for f in ("partition", "source_start", "source_end", "mirrored", "lag_records",
                      "gap_records"):
                text, value = row[f]
                assert text == str(p[f]) and value == str(p[f]), (key, f, row[f], p[f])
            assert row["topic"][0] == p["topic"] and row["target_topic"][0] == p["target_topic"]
        assert parsed.rows[(t, 0)]["retention_risk"][0] == "none (caught up)", parsed.rows[(t, 0)]
        assert 'data-loaded="1"' in dom, dom[:2000]
        assert parsed.ids["lag-line"]["class"] == "line" and \
            int(parsed.ids["lag-line"]["data-samples"]) >= 2, parsed.ids.get("lag-line")
        cut = [e for e in cli["cutover"]["entries"] if e["name"] == group]
        assert cli["cutover"]["readable"] and len(cut) == 1, cli["cutover"]
        assert cut[0]["kind"] == "group" and cut[0]["done"] and cut[0]["generation"] == 1, cut
        steps = [x["step"] for x in cut[0]["steps"]]
        assert steps == ["started", "members-drained", "mirror-caught-up", "committed",
                         "verified"], steps
        row = parsed.cutover[("group", group)]
        assert row["state"][0] == "done" and row["generation"][0] == "1", row
        assert row["steps"][0] == " → ".join(steps), row
        assert row["last_step"][0].startswith("verified ("), row
        assert ">src-&gt;dst<" in dom or ">src->dst<" in dom, dom[:2000]
        assert re.search(r'id="config-sync"[^>]*>in sync<', dom), dom
        assert re.search(r'id="total-lag"[^>]*>0<', dom), dom

        art = os.environ.get("KFERRY_ARTIFACTS_DIR") or str(tmp_path)
        os.makedirs(art, exist_ok=True)
        png = os.path.join(art, "webview.png")
        if os.path.exists(png):
            os.remove(png)
        browse(base + "/", tmp_path, "--screenshot=%s" % png, "--window-size=1280,900")
        with open(png, "rb") as f:
            data = f.read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000, len(data)
    finally:
        kf.stop(expect=0)
