#!/usr/bin/env python3
"""What an open `gtsim ui` dashboard costs the regions (issue 15: < 2 % of one core each).

Starts a throwaway 3-region cluster (build/gtsim up, in a temporary folder), a global table,
and writers that send PutItem to every region's DynamoDB endpoint at --rate writes/s in all
(spread evenly, keep-alive HTTP, paced), then reads each region process's CPU time
(utime + stime in /proc/PID/stat) over --seconds twice: without a dashboard, then with
`gtsim ui` serving and one client reading its /events stream (the page's EventSource; what the
regions pay for is the dashboard's status polling, the same for one page as for several). Prints
one line per region and phase, and the difference. Stops everything it started.

  tools/ui_cost.py --bin-dir build --rate 2000 --seconds 30
"""
import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.PutItem",
    "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20261207/us-east-1/dynamodb/aws4_request, "
                     "SignedHeaders=host, Signature=0",
}


def writer(port, rate, stop_at, name, counter):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    interval, n, start = 1.0 / rate, 0, time.monotonic()
    while True:
        now = time.monotonic()
        if now >= stop_at:
            break
        due = start + n * interval
        if due > now:
            time.sleep(due - now)
        body = json.dumps({"TableName": "cost", "Item": {
            "id": {"S": f"{name}-{n % 5000}"}, "v": {"S": "x" * 150}}})
        conn.request("POST", "/", body, HEADERS)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            print(f"PutItem to {name}: HTTP {r.status}", file=sys.stderr)
        n += 1
    with counter.get_lock():
        counter.value += n


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pids, seconds):
    before = {r: cpu_seconds(p) for r, p in pids.items()}
    t0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    return {r: (cpu_seconds(p) - before[r]) / wall * 100 for r, p in pids.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default="build")
    ap.add_argument("--rate", type=int, default=2000, help="writes/s over all regions")
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    gtsim = os.path.abspath(os.path.join(args.bin_dir, "gtsim"))
    d = tempfile.mkdtemp(prefix="gtsim-ui-cost-")
    ui = None
    run = lambda *a: subprocess.run([gtsim, *a, "--dir", d], check=True, capture_output=True,
                                    text=True).stdout
    try:
        run("up", "--regions", ",".join(REGIONS))
        run("create-table", "--region", REGIONS[0], "--table", "cost", "--hash-key", "id:S",
            "--replicas", ",".join(REGIONS))
        status = json.loads(run("status", "--json"))
        pids = {r["region"]: r["pid"] for r in status["regions"]}
        ports = {r: int(run("endpoint", "--region", r).strip().rsplit(":", 1)[1]) for r in REGIONS}
        total = 2 * args.seconds + 20
        stop_at = time.monotonic() + total
        counter = multiprocessing.Value("l", 0)
        procs = [multiprocessing.Process(target=writer, args=(ports[r], args.rate / len(REGIONS),
                                                              stop_at, r, counter))
                 for r in REGIONS]
        for p in procs:
            p.start()
        time.sleep(5)  # warm up
        load = os.getloadavg()
        without = measure(pids, args.seconds)
        ui = subprocess.Popen([gtsim, "ui", "--listen", "127.0.0.1:0", "--dir", d],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        url = ui.stdout.readline().strip()
        port = int(re.match(r"http://127\.0\.0\.1:(\d+)/", url).group(1))
        events = {"n": 0}

        def listen():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/events")
            r = c.getresponse()
            while True:
                line = r.readline()
                if not line:
                    return
                if line.startswith(b"event: snapshot"):
                    events["n"] += 1

        threading.Thread(target=listen, daemon=True).start()
        time.sleep(3)
        seen = events["n"]
        with_ui = measure(pids, args.seconds)
        snapshots = events["n"] - seen
        for p in procs:
            p.join()
        print(f"# ui cost: 3 regions, {args.rate} writes/s offered ({counter.value / total:.0f}/s "
              f"sent), {args.seconds:.0f} s per phase, load average at start "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(f"# with the dashboard: {snapshots} snapshots pushed in {args.seconds:.0f} s")
        for r in REGIONS:
            print(f"{r:12s} CPU without dashboard {without[r]:6.2f} % of a core, with "
                  f"{with_ui[r]:6.2f} %, difference {with_ui[r] - without[r]:+.2f} %")
    finally:
        if ui:
            ui.terminate()
            ui.wait()
        subprocess.run([gtsim, "down", "--dir", d], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
