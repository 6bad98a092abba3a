#!/usr/bin/env python3
"""Instructions per operation for every benchmark case, counted with callgrind.

For each case of each bench program given, runs `PROG --case NAME --iters N` under
`valgrind --tool=callgrind` for two values of N and reports the difference divided by the
difference in N, so set-up work cancels out. Prints one JSON object per line:
{"bench": NAME, "instr_per_op": X}. Instruction counts do not depend on the machine's load.
"""
import json
import re
import subprocess
import sys

N1, N2 = 2000, 12000


def collected(prog, case, iters):
    r = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", prog,
         "--case", case, "--iters", str(iters)],
        capture_output=True, text=True, timeout=600)
    m = re.search(r"Collected : (\d+)", r.stderr)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"{prog} --case {case}: callgrind failed:\n{r.stderr[-2000:]}")
    return int(m.group(1))


def main(progs):
    for prog in progs:
        cases = subprocess.run([prog, "--list"], capture_output=True, text=True,
                               check=True).stdout.split()
        for case in cases:
            a, b = collected(prog, case, N1), collected(prog, case, N2)
            print(json.dumps({"bench": case, "instr_per_op": round((b - a) / (N2 - N1), 1)}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
