#!/usr/bin/env python3
"""What an open `gtsim ui` dashboard costs the regions (issue 15: < 2 % of one core each).

Starts a throwaway 3-region cluster (build/gtsim up, in a temporary folder), a global table,
and writers that send PutItem to every region's DynamoDB endpoint at --rate writes/s in all
(spread evenly, keep-alive HTTP, paced), then reads each region process's CPU time
(utime + stime in /proc/PID/stat) over --seconds twice: without a dashboard, then with
one client reading `gtsim ui`'s /events stream (the page's EventSource; what the regions pay
for is the dashboard's status polling, which runs only while a page is open and costs the same
for one page as for several). Phases: idle without and with the dashboard, then under the
writes --rounds pairs of without / with, alternating (a shared machine drifts). Prints each
phase's writes/s and each region's CPU in % of one core, and the mean differences. Stops
everything it started.

  tools/ui_cost.py --bin-dir build --rate 2000 --seconds 30 --rounds 2
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


def writer(port, rate, stop, name, counter):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    interval, n, start = 1.0 / rate, 0, time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        due = start + n * interval
        if due > now:
            time.sleep(due - now)
        elif now - due > 1:  # fell behind (a busy machine): do not burst to catch up
            start, n = now, 0
            due = now
        body = json.dumps({"TableName": "cost", "Item": {
            "id": {"S": f"{name}-{n % 5000}"}, "v": {"S": "x" * 150}}})
        conn.request("POST", "/", body, HEADERS)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            print(f"PutItem to {name}: HTTP {r.status}", file=sys.stderr)
        n += 1
        with counter.get_lock():
            counter.value += 1


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Dashboard:
    """One open page's stream: connects to /events, counts snapshots, closes on stop()."""

    def __init__(self, port):
        self.port, self.snapshots, self.conn = port, 0, None

    def start(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.conn.request("GET", "/events")
        resp = self.conn.getresponse()
        conn = self.conn

        def read():
            try:
                while True:
                    line = resp.readline()
                    if not line:
                        return
                    if line.startswith(b"event: snapshot"):
                        self.snapshots += 1
            except (OSError, ValueError, AttributeError):
                return  # closed by stop()

        threading.Thread(target=read, daemon=True).start()
        self._conn = conn

    def stop(self):
        import socket
        try:
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._conn.close()


def phase(pids, seconds, counter):
    """Each region's CPU in % of one core over `seconds`, and the writes/s sent meanwhile."""
    before = {r: cpu_seconds(p) for r, p in pids.items()}
    writes = counter.value
    t0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    cpu = {r: (cpu_seconds(p) - before[r]) / wall * 100 for r, p in pids.items()}
    return cpu, (counter.value - writes) / wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default="build")
    ap.add_argument("--rate", type=int, default=2000, help="writes/s over all regions")
    ap.add_argument("--seconds", type=float, default=30, help="per phase")
    ap.add_argument("--rounds", type=int, default=2,
                    help="loaded (without, with) pairs, alternating, to see the drift")
    args = ap.parse_args()
    gtsim = os.path.abspath(os.path.join(args.bin_dir, "gtsim"))
    d = tempfile.mkdtemp(prefix="gtsim-ui-cost-")
    ui, stop, procs = None, multiprocessing.Event(), []
    run = lambda *a: subprocess.run([gtsim, *a, "--dir", d], check=True, capture_output=True,
                                    text=True).stdout
    try:
        run("up", "--regions", ",".join(REGIONS))
        run("create-table", "--region", REGIONS[0], "--table", "cost", "--hash-key", "id:S",
            "--replicas", ",".join(REGIONS))
        status = json.loads(run("status", "--json"))
        pids = {r["region"]: r["pid"] for r in status["regions"]}
        ports = {r: int(run("endpoint", "--region", r).strip().rsplit(":", 1)[1]) for r in REGIONS}
        ui = subprocess.Popen([gtsim, "ui", "--listen", "127.0.0.1:0", "--dir", d],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        url = ui.stdout.readline().strip()
        port = int(re.match(r"http://127\.0\.0\.1:(\d+)/", url).group(1))
        counter = multiprocessing.Value("l", 0)
        load = os.getloadavg()
        print(f"# ui cost: 3 regions, {args.seconds:.0f} s per phase, load average at start "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print("# phase                 writes/s   " + "  ".join(f"{r:>10s}" for r in REGIONS)
              + "   (CPU, % of one core)")
        results = {}

        def show(name, cpu, rate, snaps=None):
            extra = f"   snapshots: {snaps}" if snaps is not None else ""
            print(f"{name:24s} {rate:8.0f}   " + "  ".join(f"{cpu[r]:10.2f}" for r in REGIONS)
                  + extra, flush=True)
            if "amplified" not in name:
                results.setdefault(name.split(" ")[0] + (" with" if "with " in name else
                                                         " without"), []).append(cpu)

        def with_dashboard(name):
            dash = Dashboard(port)
            dash.start()
            time.sleep(2)
            seen = dash.snapshots
            cpu, rate = phase(pids, args.seconds, counter)
            show(name, cpu, rate, dash.snapshots - seen)
            dash.stop()
            time.sleep(2)

        def amplified(name):
            """Snapshots as fast as four clients take them (GET /api/status: the poller's own
            ClusterStatus), to measure one snapshot's cost well above the machine's noise."""
            done, count, lock = threading.Event(), [0], threading.Lock()

            def spin():
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                while not done.is_set():
                    c.request("GET", "/api/status")
                    c.getresponse().read()
                    with lock:
                        count[0] += 1

            spinners = [threading.Thread(target=spin, daemon=True) for _ in range(4)]
            for t in spinners:
                t.start()
            time.sleep(1)
            n0 = count[0]
            cpu, rate = phase(pids, args.seconds, counter)
            per_s = (count[0] - n0) / args.seconds
            done.set()
            for t in spinners:
                t.join()
            show(name, cpu, rate, f"{per_s:.0f}/s")
            amplified_runs.append((name.split(" ")[0], cpu, per_s))

        amplified_runs = []
        cpu, rate = phase(pids, args.seconds, counter)
        show("idle without dashboard", cpu, rate)
        with_dashboard("idle with dashboard")
        amplified("idle amplified")
        procs = [multiprocessing.Process(target=writer, args=(ports[r], args.rate / len(REGIONS),
                                                              stop, r, counter))
                 for r in REGIONS]
        for p in procs:
            p.start()
        time.sleep(5)  # warm up
        for i in range(args.rounds):
            cpu, rate = phase(pids, args.seconds, counter)
            show(f"loaded without dashboard", cpu, rate)
            with_dashboard(f"loaded with dashboard")
            amplified("loaded amplified")
        for kind in ("idle", "loaded"):
            w, wo = results[f"{kind} with"], results[f"{kind} without"]
            diff = {r: sum(c[r] for c in w) / len(w) - sum(c[r] for c in wo) / len(wo)
                    for r in REGIONS}
            print(f"# {kind}: with minus without, mean per region: " +
                  ", ".join(f"{r} {diff[r]:+.2f}" for r in REGIONS) + " % of one core")
            # One snapshot's cost from the amplified phases: (CPU - CPU without) / snapshots/s,
            # i.e. the % of a core one snapshot a second costs.
            for k, cpu, per_s in amplified_runs:
                if k != kind or per_s <= 0:
                    continue
                cost = {r: (cpu[r] - sum(c[r] for c in wo) / len(wo)) / per_s for r in REGIONS}
                print(f"# {kind}: one snapshot a second costs " +
                      ", ".join(f"{r} {cost[r]:.3f}" for r in REGIONS) +
                      f" % of one core (from {per_s:.0f} snapshots/s)")
    finally:
        stop.set()
        for p in procs:
            p.join()
        if ui:
            ui.terminate()
            ui.wait()
        subprocess.run([gtsim, "down", "--dir", d], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
