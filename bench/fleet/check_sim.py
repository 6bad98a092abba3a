#!/usr/bin/env python3
"""Smoke test of fleet_sim (suite bench-smoke): a small run (10 nodes, 100 targets, 4 hours)
must print one well-formed JSON line per ECMP x selector x forwarder, and the figures must
obey what the models imply whatever the numbers:
  - a flow table never breaks more flows than no flow table (same ECMP and selector);
  - a resilient group moves fewer flows per node change than a plain one;
  - some flows break under the plain group with a proxy (nodes are replaced);
and bad options exit 2."""
import json
import subprocess
import sys

sim = sys.argv[1]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


r = subprocess.run([sim, "--nodes", "10", "--targets", "100", "--flows", "5000", "--hours", "4",
                    "--node-events", "4", "--deploys", "8", "--max-seconds", "60"],
                   capture_output=True, text=True, timeout=100)
if r.returncode != 0:
    fail(f"exit {r.returncode}: {r.stderr}")
rows = [json.loads(line) for line in r.stdout.splitlines()]
res = {(x["ecmp"], x["selector"], x["forwarder"]): x for x in rows if x["sim"] == "fleet"}
selectors = sorted({k[1] for k in res} - {"any"})
if len(res) != 2 * (1 + 2 * len(selectors)) or not {"maglev", "ring", "rendezvous"} <= set(selectors):
    fail(f"unexpected rows: {sorted(res)}")
for x in res.values():
    if x["truncated"] or x["flows_total"] < 5000 or not 0 <= x["broken_share"] <= 1:
        fail(f"bad row {x}")
for e in ("plain", "resilient"):
    for s in selectors:
        ft, l4 = res[(e, s, "l4+flowtable")], res[(e, s, "l4")]
        if ft["broken_share"] > l4["broken_share"]:
            fail(f"{e}/{s}: flow table breaks more than none: {ft} {l4}")
plain, resil = res[("plain", "any", "proxy")], res[("resilient", "any", "proxy")]
if not resil["node_moved_per_change"] < plain["node_moved_per_change"]:
    fail(f"resilient moves no fewer flows than plain: {resil} {plain}")
if plain["broken_share"] <= 0:
    fail("no flow broken by node changes under plain ECMP")
for bad in (["--nodes", "5"], ["--targets", "200000"], ["--hours", "x"], ["--bogus", "1"]):
    r = subprocess.run([sim] + bad, capture_output=True, text=True, timeout=10)
    if r.returncode != 2:
        fail(f"{bad}: exit {r.returncode}, not 2")
for k in sorted(res):
    print(json.dumps(res[k]))
print("PASS")
