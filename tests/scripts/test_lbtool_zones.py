#!/usr/bin/env python3
"""lbtool zones: the seed's cross-zone figures, Envoy's example and the CLI contract."""
import json
import os
import subprocess
import sys

LBTOOL = os.path.join(os.environ.get("LB_BUILD_ROOT", "build"), "examples", "lbtool", "lbtool")
FAILURES = []


def run(*args):
    p = subprocess.run([LBTOOL, "zones", *args], capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout, p.stderr


def ok(*args):
    rc, out, err = run(*args)
    if rc != 0:
        raise AssertionError(f"{args}: exit {rc}: {out} {err}")
    return json.loads(out)


def check(name, cond, detail=""):
    if not cond:
        FAILURES.append(f"{name}: {detail}")


def near(a, b, eps=1e-4):
    return a is not None and abs(a - b) <= eps


def zone(o, name):
    return next(z for z in o["zones"] if z["name"] == name)


def main():
    # seed: 2 targets in A, 8 in B, DNS splitting evenly
    o = ok("--zone", "a=2", "--zone", "b=8", "--mode", "off")
    check("off a", near(zone(o, "a")["per_target_percent"], 25.0), o)
    check("off b", near(zone(o, "b")["per_target_percent"], 6.25), o)
    check("off cross", near(o["cross_zone_percent"], 0.0), o)
    check("off ratio", near(o["max_over_min"], 4.0), o)
    check("fields", set(zone(o, "a")) >= {"name", "targets", "healthy", "priority",
                                          "share_percent", "per_target_percent"}, o)
    check("no cost without volume", "cost" not in o and "local" not in o, o)
    o = ok("--zone", "a=2", "--zone", "b=8", "--mode", "on",
           "--gb-per-month", "100000", "--usd-per-gb", "0.01", "--local", "a")
    for z in ("a", "b"):
        check("on " + z, near(zone(o, z)["per_target_percent"], 10.0), o)
    check("on cross", near(o["cross_zone_percent"], 50.0), o)
    check("on ratio", near(o["max_over_min"], 1.0), o)
    check("cost", near(o["cost"]["cross_zone_gb"], 50000.0) and near(o["cost"]["usd"], 500.0), o)
    check("local", o["local"]["zone"] == "a" and near(o["local"]["local_percent"], 20.0)
          and near(o["local"]["to"]["b"], 80.0), o)
    # seed exercise: 2 and 6
    o = ok("--zone", "a=2", "--zone", "b=6", "--mode", "off")
    check("2/6 a", near(zone(o, "a")["per_target_percent"], 25.0), o)
    check("2/6 b", near(zone(o, "b")["per_target_percent"], 8.3333), o)
    o = ok("--zone", "a=2", "--zone", "b=6")
    check("2/6 on (default mode)", near(zone(o, "b")["per_target_percent"], 12.5), o)
    # Envoy: upstream 25/50/25 against downstream 40/40/20
    o = ok("--zone", "a=2@40", "--zone", "b=4@40", "--zone", "c=2@20",
           "--mode", "zone-aware", "--local", "a")
    loc = o["local"]
    check("envoy local", near(loc["local_percent"], 62.5), loc)
    check("envoy 2:1", near(loc["to"]["b"], 25.0) and near(loc["to"]["c"], 12.5), loc)
    # under the minimum cluster size zone-aware routing is off
    o = ok("--zone", "a=2@40", "--zone", "b=4@40", "--zone", "c=2@20",
           "--mode", "zone-aware", "--local", "a", "--min-cluster-size", "9")
    check("min cluster", near(o["local"]["local_percent"], 25.0), o["local"])
    # priority spill-over: 50 % healthy at priority 0 keeps 70 %
    o = ok("--zone", "east=10,healthy=5", "--zone", "west=10,priority=1")
    check("spill", near(zone(o, "east")["share_percent"], 70.0)
          and near(zone(o, "west")["share_percent"], 30.0), o)
    check("priority field", zone(o, "west")["priority"] == 1 and zone(o, "east")["healthy"] == 5, o)
    check("ratio over healthy targets", near(o["max_over_min"], 14.0 / 3.0), o)
    # affinity 85 %
    o = ok("--zone", "a=2", "--zone", "b=8", "--mode", "affinity", "--local-percent", "85",
           "--local", "a")
    check("affinity", near(o["local"]["local_percent"], 88.0), o["local"])
    # evacuation
    o = ok("--zone", "a=4", "--zone", "b=4", "--zone", "c=4", "--evacuate", "b")
    check("evacuate", near(zone(o, "b")["share_percent"], 0.0)
          and near(zone(o, "a")["share_percent"], 50.0), o)
    check("ratio null when healthy targets idle", o["max_over_min"] is None, o)
    # table
    rc, out, _ = run("--zone", "a=2", "--zone", "b=8", "--mode", "off", "--table")
    check("table", rc == 0 and "6.2500" in out and "25.0000" in out, out)
    # help, usage errors, failures
    rc, out, _ = run("--help")
    check("help", rc == 0 and "usage: lbtool zones" in out, out)
    for bad in (["--mode", "sideways", "--zone", "a=1"], [], ["--zone", "a"],
                ["--zone", "a=x"], ["--zone", "a=2,healthy=3"], ["--zone", "a=2@101"],
                ["--zone", "a=2", "--gb-per-month", "5"],
                ["--zone", "a=2", "--local-percent", "50"], ["--zone", "a=2", "stray"]):
        rc, out, err = run(*bad)
        check(f"usage {bad}", rc == 2 and out == "" and "lbtool zones" in err, (rc, out, err))
    for bad, name in ((["--zone", "a=2@70", "--zone", "b=2@70"], "LB_E_ZONE_BAD_INCOMING"),
                      (["--zone", "a=2", "--local", "zz"], "LB_E_ZONE_UNKNOWN"),
                      (["--zone", "a=2", "--zone", "a=3"], "EEXIST"),
                      (["--zone", "a=0"], "LB_E_NO_TARGET")):
        rc, out, _ = run(*bad)
        check(f"fail {bad}", rc == 1 and json.loads(out).get("error") == name, (rc, out))
    if FAILURES:
        print("\n".join(map(str, FAILURES)))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
