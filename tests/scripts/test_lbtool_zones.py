#!/usr/bin/env python3
"""lbtool zones: the seed's cross-zone figures, Envoy's example and the CLI contract."""
import sys

from lbtool_common import check, error_name, ok, report, run, usage_error


def near(a, b, eps=1e-4):
    return a is not None and abs(a - b) <= eps


def zone(o, name):
    return next(z for z in o["zones"] if z["name"] == name)


def test_zones():
    # seed: 2 targets in A, 8 in B, DNS splitting evenly
    o = ok("zones", "--zone", "a=2", "--zone", "b=8", "--mode", "off")
    check(near(zone(o, "a")["per_target_percent"], 25.0), "off a", o)
    check(near(zone(o, "b")["per_target_percent"], 6.25), "off b", o)
    check(near(o["cross_zone_percent"], 0.0), "off cross", o)
    check(near(o["max_over_min"], 4.0), "off ratio", o)
    check(set(zone(o, "a")) >= {"name", "targets", "healthy", "priority", "share_percent",
                                "per_target_percent"}, "fields", o)
    check("cost" not in o and "local" not in o, "no cost without volume", o)
    o = ok("zones", "--zone", "a=2", "--zone", "b=8", "--mode", "on",
           "--gb-per-month", "100000", "--usd-per-gb", "0.01", "--local", "a")
    for z in ("a", "b"):
        check(near(zone(o, z)["per_target_percent"], 10.0), "on " + z, o)
    check(near(o["cross_zone_percent"], 50.0), "on cross", o)
    check(near(o["max_over_min"], 1.0), "on ratio", o)
    check(near(o["cost"]["cross_zone_gb"], 50000.0) and near(o["cost"]["usd"], 500.0), "cost", o)
    check(o["local"]["zone"] == "a" and near(o["local"]["local_percent"], 20.0)
          and near(o["local"]["to"]["b"], 80.0), "local", o)
    # seed exercise: 2 and 6
    o = ok("zones", "--zone", "a=2", "--zone", "b=6", "--mode", "off")
    check(near(zone(o, "a")["per_target_percent"], 25.0), "2/6 a", o)
    check(near(zone(o, "b")["per_target_percent"], 8.3333), "2/6 b", o)
    o = ok("zones", "--zone", "a=2", "--zone", "b=6")
    check(near(zone(o, "b")["per_target_percent"], 12.5), "2/6 on (default mode)", o)
    # Envoy: upstream 25/50/25 against downstream 40/40/20
    o = ok("zones", "--zone", "a=2@40", "--zone", "b=4@40", "--zone", "c=2@20",
           "--mode", "zone-aware", "--local", "a")
    loc = o["local"]
    check(near(loc["local_percent"], 62.5), "envoy local", loc)
    check(near(loc["to"]["b"], 25.0) and near(loc["to"]["c"], 12.5), "envoy 2:1", loc)
    # under the minimum cluster size zone-aware routing is off
    o = ok("zones", "--zone", "a=2@40", "--zone", "b=4@40", "--zone", "c=2@20",
           "--mode", "zone-aware", "--local", "a", "--min-cluster-size", "9")
    check(near(o["local"]["local_percent"], 25.0), "min cluster", o["local"])
    # priority spill-over: 50 % healthy at priority 0 keeps 70 %
    o = ok("zones", "--zone", "east=10,healthy=5", "--zone", "west=10,priority=1")
    check(near(zone(o, "east")["share_percent"], 70.0)
          and near(zone(o, "west")["share_percent"], 30.0), "spill", o)
    check(zone(o, "west")["priority"] == 1 and zone(o, "east")["healthy"] == 5, "priority field", o)
    check(near(o["max_over_min"], 14.0 / 3.0), "ratio over healthy targets", o)
    # affinity 85 %
    o = ok("zones", "--zone", "a=2", "--zone", "b=8", "--mode", "affinity", "--local-percent",
           "85", "--local", "a")
    check(near(o["local"]["local_percent"], 88.0), "affinity", o["local"])
    # evacuation
    o = ok("zones", "--zone", "a=4", "--zone", "b=4", "--zone", "c=4", "--evacuate", "b")
    check(near(zone(o, "b")["share_percent"], 0.0)
          and near(zone(o, "a")["share_percent"], 50.0), "evacuate", o)
    check(o["max_over_min"] is None, "ratio null when healthy targets idle", o)
    # table
    rc, out, _ = run("zones", "--zone", "a=2", "--zone", "b=8", "--mode", "off", "--table")
    check(rc == 0 and "6.2500" in out and "25.0000" in out, "table", out)
    # help, usage errors, failures
    rc, out, _ = run("zones", "--help")
    check(rc == 0 and "usage: lbtool zones" in out, "help", out)
    for bad in (["--mode", "sideways", "--zone", "a=1"], [], ["--zone", "a"],
                ["--zone", "a=x"], ["--zone", "a=2,healthy=3"], ["--zone", "a=2@101"],
                ["--zone", "a=2", "--gb-per-month", "5"],
                ["--zone", "a=2", "--local-percent", "50"], ["--zone", "a=2", "stray"]):
        check("lbtool zones" in usage_error("zones", *bad), f"usage {bad}")
    for bad, name in ((["--zone", "a=2@70", "--zone", "b=2@70"], "LB_E_ZONE_BAD_INCOMING"),
                      (["--zone", "a=2", "--local", "zz"], "LB_E_ZONE_UNKNOWN"),
                      (["--zone", "a=2", "--zone", "a=3"], "EEXIST"),
                      (["--zone", "a=0"], "LB_E_NO_TARGET")):
        check(error_name("zones", *bad) == name, f"fail {bad}")


if __name__ == "__main__":
    sys.exit(report((test_zones,)))
