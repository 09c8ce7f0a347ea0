"""docs/grafana/gtsim-dashboard.json against a 2-region cluster of real gtsim-region processes
(the `cluster` fixture of conftest.py): the dashboard is well-formed for Grafana (unique panel
ids, every query with a refId, a datasource and a grid position), and every gtsim_* metric name
its queries and variables use is served by a real region's GET /metrics, parsed by
test_metrics.py's strict parser - not checked by eye.
"""
import json
import os
import re

from conftest import EAST, ROOT, WEST, run_gtsim as gtsim
from test_metrics import scrape, wait_for

DASHBOARD = os.path.join(ROOT, "docs", "grafana", "gtsim-dashboard.json")
TABLE = "graf"
METRIC = re.compile(r"\bgtsim_[a-zA-Z0-9_]+\b")


def panels(dashboard):
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])  # a collapsed row holds its panels


def queries(dashboard):
    """Every PromQL text of the dashboard: panel targets and query variables."""
    for p in panels(dashboard):
        for t in p.get("targets", []):
            yield t["expr"]
    for v in dashboard["templating"]["list"]:
        if v["type"] == "query":
            yield v["query"]["query"] if isinstance(v["query"], dict) else v["query"]


def test_dashboard_is_well_formed():
    with open(DASHBOARD) as f:
        d = json.load(f)
    assert d["uid"] and d["title"] and d["schemaVersion"] >= 30
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    graphs = [p for p in panels(d) if p["type"] != "row"]
    assert len(graphs) >= 8
    for p in graphs:
        assert p["datasource"]["type"] == "prometheus", p["title"]
        assert set(p["gridPos"]) == {"x", "y", "w", "h"}, p["title"]
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["expr"].count("(") == t["expr"].count(")"), t["expr"]
    names = {v["name"] for v in d["templating"]["list"]}
    assert {"datasource", "region"} <= names


def test_every_metric_the_dashboard_queries_is_served_by_a_region(cluster):
    # Replication between the two regions, so every family has series.
    gtsim(cluster, "create-table", "--region", EAST, "--table", TABLE, "--hash-key", "id:S",
          "--replicas", f"{EAST},{WEST}")
    for i in range(5):
        gtsim(cluster, "put", "--region", EAST, "--table", TABLE,
              "--item", json.dumps({"id": {"S": f"k{i}"}}))
    gtsim(cluster, "get", "--region", WEST, "--table", TABLE, "--key", json.dumps({"id": {"S": "k0"}}))

    def served():
        names = set()
        for region in (EAST, WEST):
            for fam, f in scrape(cluster, region).items():
                names.add(fam)
                names.update(s[0] for s in f["samples"])
        return names if "gtsim_replication_latency_seconds_bucket" in names else None

    names = wait_for("a delivered change in /metrics", served)
    with open(DASHBOARD) as f:
        d = json.load(f)
    used = {m for q in queries(d) for m in METRIC.findall(q)}
    assert len(used) >= 10, used
    missing = sorted(used - names)
    assert not missing, f"the dashboard queries metrics no region serves: {missing}"
