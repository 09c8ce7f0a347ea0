"""Lag measured truthfully, and Prometheus /metrics, against a 2-region cluster of real
gtsim-region processes (the `cluster` fixture of conftest.py):
- a link cut for ~5 s: `gtsim status --json` shows the pair's staleness at least as long as the
  cut has lasted (measured here) and growing, while ReplicationLatency's p99 stays small; after
  the heal it drops to 0 and the replicated time is the present again;
- GET /metrics parsed strictly as the text exposition format 0.0.4 (families declared once with
  HELP and TYPE before their samples, label syntax and escapes, histograms cumulative with +Inf
  equal to _count, no duplicate series), and its figures checked against what was written.
No timing is asserted tightly: waits are conditions with deadlines.
"""
import datetime
import json
import math
import re
import time
import urllib.request

from conftest import EAST, WEST, run_gtsim as gtsim

TABLE = "lag"

# --- a strict parser of the text exposition format 0.0.4 -------------------------------------
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)(?: (-?\d+))?$")
LABEL = re.compile(rf'({LABEL_NAME})="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_value(text):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", text):
        raise AssertionError(f"not a float: {text!r}")
    return float(text)


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, f"bad label syntax at {text[pos:]!r}"
        name, raw = m.group(1), m.group(2)
        assert name not in labels, f"label {name} twice in {{{text}}}"
        labels[name] = raw.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        pos = m.end()
        if m.group(3) == "":
            assert pos == len(text)
    return labels


def parse_exposition(body):
    """{family: {"type", "help", "samples": [(name, labels, value)]}}; asserts on any deviation."""
    assert body.endswith("\n"), "the exposition must end with a newline"
    families, current, seen = {}, None, set()
    for line in body.split("\n")[:-1]:
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                assert re.fullmatch(NAME, parts[2]), f"bad metric name in {line!r}"
                fam = families.setdefault(parts[2], {"type": None, "help": None, "samples": []})
                key = parts[1].lower()
                assert fam[key] is None, f"{parts[1]} twice for {parts[2]}"
                assert not fam["samples"], f"{parts[1]} after samples of {parts[2]}"
                assert len(parts) == 4 and parts[3], f"empty {parts[1]} for {parts[2]}"
                if key == "type":
                    assert parts[3] in TYPES, f"unknown type {parts[3]}"
                fam[key] = parts[3]
                current = parts[2]
            continue
        assert line, "no blank lines"
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels = m.group(1), parse_labels(m.group(2) or "")
        value = parse_value(m.group(3))
        fam_name = current
        fam = families.get(fam_name)
        assert fam is not None, f"sample {name} before any TYPE"
        allowed = {fam_name}
        if fam["type"] == "histogram":
            allowed = {fam_name + s for s in ("_bucket", "_sum", "_count")}
        assert name in allowed, f"sample {name} in family {fam_name} ({fam['type']})"
        series = (name, tuple(sorted(labels.items())))
        assert series not in seen, f"duplicate series {series}"
        seen.add(series)
        fam["samples"].append((name, labels, value))
    for name, fam in families.items():
        assert fam["type"] and fam["help"], f"{name} lacks HELP or TYPE"
        if fam["type"] == "counter":
            assert name.endswith("_total"), f"counter {name} must end in _total"
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    groups = {}
    for sname, labels, value in samples:
        base = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(base, {"buckets": [], "sum": None, "count": None})
        if sname.endswith("_bucket"):
            g["buckets"].append((parse_value(labels["le"]), value))
        elif sname.endswith("_sum"):
            g["sum"] = value
        else:
            g["count"] = value
    for base, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        assert les == sorted(les) and les[-1] == math.inf, f"{name}{base}: buckets {les}"
        counts = [c for _, c in g["buckets"]]
        assert counts == sorted(counts), f"{name}{base}: not cumulative {counts}"
        assert g["count"] == counts[-1], f"{name}{base}: +Inf {counts[-1]} != count {g['count']}"
        assert g["sum"] is not None and g["sum"] >= 0


def test_parser_rejects_malformed_exposition():
    good = ('# HELP x_total A counter.\n# TYPE x_total counter\nx_total{a="b\\"c"} 1\n')
    assert parse_exposition(good)["x_total"]["samples"][0][1] == {"a": 'b"c'}
    for bad in ['# TYPE x_total counter\nx_total 1\n',                          # no HELP
                '# HELP x_total h\n# TYPE x_total counter\nx_total{a=b} 1\n',   # unquoted
                '# HELP x_total h\n# TYPE x_total counter\nx_total one\n',      # value
                '# HELP x h\n# TYPE x counter\nx 1\n',                          # no _total
                '# HELP x_total h\n# TYPE x_total counter\nx_total 1\nx_total 2\n',
                '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\n'
                'h_sum 1\nh_count 1\n']:
        try:
            parse_exposition(bad)
        except AssertionError:
            continue
        raise AssertionError(f"accepted: {bad!r}")


# --- helpers -------------------------------------------------------------------------------
def endpoint(env, region):
    return gtsim(env, "endpoint", "--region", region).stdout.strip()


def scrape(env, region):
    with urllib.request.urlopen(endpoint(env, region).rstrip("/") + "/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse_exposition(r.read().decode())


def value(families, name, sample=None, **labels):
    fam = families[name]
    for sname, l, v in fam["samples"]:
        if (sample or name) == sname and all(l.get(k) == want for k, want in labels.items()):
            return v
    raise AssertionError(f"no {sample or name} with {labels}")


def pair(env, src, dst):
    st = json.loads(gtsim(env, "status", "--json").stdout)
    for p in st["replication"]:
        if p["source"] == src and p["destination"] == dst:
            return p
    raise AssertionError(f"no pair {src} -> {dst} in status --json")


def put(env, region, i):
    gtsim(env, "put", "--region", region, "--table", TABLE,
          "--item", json.dumps({"id": {"S": f"k{i}"}, "n": {"N": str(i)}}))


def wait_for(what, check, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rfc3339(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- the tests -----------------------------------------------------------------------------
def test_table(cluster):
    gtsim(cluster, "create-table", "--region", EAST, "--table", TABLE, "--hash-key", "id:S",
          "--replicas", f"{EAST},{WEST}")
    wait_for("the replica in us-west-2",
             lambda: any(t["table"] == TABLE for t in
                         json.loads(gtsim(cluster, "status", "--json").stdout)["tables"]
                         if WEST in t["items"]))


def test_staleness_grows_during_a_cut_and_is_zero_after_the_heal(cluster):
    for i in range(5):
        put(cluster, EAST, i)
    wait_for("east -> west caught up", lambda: pair(cluster, EAST, WEST)["pending"] == 0)
    p = pair(cluster, EAST, WEST)
    assert p["staleness_ms"] == 0
    assert abs(rfc3339(p["replicated_time"]) - time.time()) < 60  # caught up: now
    assert [t["table"] for t in p["tables"]] == [TABLE]

    gtsim(cluster, "partition", EAST, WEST)
    try:
        cut_at = time.time()
        put(cluster, EAST, 100)  # committed after the cut began: at most as old as the cut
        first_write_done = time.time()
        readings = []
        while time.time() - cut_at < 5:
            before = time.time()
            p = pair(cluster, EAST, WEST)
            readings.append((before - first_write_done, p))
            put(cluster, EAST, 101 + len(readings))
            time.sleep(0.5)
        elapsed = time.time() - first_write_done
        p = pair(cluster, EAST, WEST)
    finally:
        gtsim(cluster, "heal")
    # At least as stale as the time since the oldest unreplicated write was acknowledged.
    assert p["staleness_ms"] >= elapsed * 1000, (p, elapsed)
    assert p["pending"] >= 2
    assert p["tables"][0]["staleness_ms"] == p["staleness_ms"]
    assert rfc3339(p["replicated_time"]) <= cut_at + 1
    stalenesses = [r["staleness_ms"] for _, r in readings]
    assert stalenesses == sorted(stalenesses) and stalenesses[-1] > stalenesses[0], stalenesses
    for waited, r in readings:
        assert r["staleness_ms"] >= waited * 1000
    # Nothing was delivered during the cut, so the latency window still shows the small
    # latencies from before it: the figure a user must not read as "how far behind".
    assert p["latency_ms"]["p99"] < 2000 <= p["staleness_ms"]

    wait_for("east -> west drained after the heal",
             lambda: pair(cluster, EAST, WEST)["pending"] == 0, timeout=60)
    p = pair(cluster, EAST, WEST)
    assert p["staleness_ms"] == 0
    assert rfc3339(p["replicated_time"]) > cut_at + elapsed
    # The destination got the backlog; its ReplicationLatency saw the cut in these deliveries.
    assert p["latency_ms"]["max"] >= elapsed * 1000


def test_metrics_parse_and_match_what_was_written(cluster):
    gtsim(cluster, "get", "--region", WEST, "--table", TABLE, "--key", json.dumps({"id": {"S": "k1"}}))
    east, west = scrape(cluster, EAST), scrape(cluster, WEST)
    for fam in ("gtsim_replication_latency_seconds", "gtsim_replication_staleness_seconds",
                "gtsim_replicated_time_seconds", "gtsim_pending_replication_count",
                "gtsim_writes_total", "gtsim_reads_total", "gtsim_conflicts_total",
                "gtsim_storage_database_bytes", "gtsim_storage_wal_bytes"):
        assert fam in east and fam in west, fam
    assert east["gtsim_replication_latency_seconds"]["type"] == "histogram"
    assert "ReplicationLatency" in east["gtsim_replication_latency_seconds"]["help"]
    assert "PendingReplicationCount" in east["gtsim_pending_replication_count"]["help"]
    # Everything written in east arrived in west: caught up, and counted on both ends.
    written = value(east, "gtsim_writes_total", region=EAST, source=EAST)
    assert written >= 5 + 1 + 5  # create-table, the puts before and during the cut
    labels = {"source": EAST, "destination": WEST, "table": TABLE}
    assert value(east, "gtsim_pending_replication_count", **labels) == 0
    assert value(east, "gtsim_replication_staleness_seconds", **labels) == 0
    assert abs(value(east, "gtsim_replicated_time_seconds", **labels) - time.time()) < 60
    delivered = value(west, "gtsim_replication_latency_seconds",
                      sample="gtsim_replication_latency_seconds_count", **labels)
    assert delivered >= 11
    assert value(west, "gtsim_writes_total", region=WEST, source=EAST) >= delivered
    # The cut's backlog waited about 5 s: some deliveries are beyond the 2.5 s bucket.
    under = value(west, "gtsim_replication_latency_seconds",
                  sample="gtsim_replication_latency_seconds_bucket", le="2.5", **labels)
    assert under < delivered
    assert value(west, "gtsim_reads_total", region=WEST, operation="GetItem") >= 1
    assert value(west, "gtsim_conflicts_total", source=EAST, destination=WEST,
                 reason="lww_older") == 0
    assert value(east, "gtsim_replication_link_up", source=WEST, destination=EAST) == 1
    assert value(east, "gtsim_storage_database_bytes", region=EAST) > 0


def test_up_writes_a_prometheus_file_sd_targets_file(cluster):
    import os
    with open(os.path.join(cluster["GTSIM_DIR"], "prometheus-targets.json")) as f:
        groups = json.load(f)
    by_region = {g["labels"]["region"]: g["targets"] for g in groups}
    assert sorted(by_region) == [EAST, WEST]
    for region, targets in by_region.items():
        assert targets == [endpoint(cluster, region).removeprefix("http://").rstrip("/")]
        scrape(cluster, region)  # each target answers /metrics
