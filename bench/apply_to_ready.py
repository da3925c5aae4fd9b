"""Time from `serdab apply` to Ready: a real orchestrator and three real
workers on loopback (mutual TLS), a zoo model, split into the steps the
orchestrator records for its rollout (profile, solve, attest, provision).

Cold: the first apply, which profiles the model's architecture on the
workers. Warm: re-applying a changed plan (max_stages), whose profiles are
cached. Run after a build:  /usr/bin/python3 bench/apply_to_ready.py
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import test_control_plane as cp  # noqa: E402


def rollout(c, name):
    d = json.loads(c.cli_ok(["get", "deployments", "-o", "json"], "viewer").stdout)
    return next(x for x in d["deployments"] if x["name"] == name)


def run(c, plan, label):
    start = time.monotonic()
    c.cli_ok(["apply", "-f", plan, "--wait", "--timeout", "1200"])
    wall_ms = (time.monotonic() - start) * 1000
    d = rollout(c, "lobby")
    t = d["timings"]
    return {"run": label, "stages": len(d["stages"]), "apply_to_ready_ms": wall_ms,
            "profile_ms": t["profile_ms"], "solve_ms": t["solve_ms"],
            "attest_ms": t["attest_ms"], "provision_ms": t["provision_ms"],
            "predicted_fps": d["predicted_fps"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    rows = []
    with cp.Cluster() as c:
        c.wait_ready([n for n, _ in c.WORKERS])
        plan = cp.write(c.path("plan.yaml"), cp.plan_text(model=args.model))
        rows.append(run(c, plan, "cold"))
        cp.write(plan, cp.plan_text(model=args.model, max_stages=2))
        rows.append(run(c, plan, "warm"))
    print(f"{args.model} on 3 workers (EPC {cp.EPC_MIB} MiB each), apply -> Ready")
    print(f"{'run':6} {'stages':>6} {'total ms':>10} {'profile':>9} {'solve':>7} {'attest':>8} "
          f"{'provision':>10} {'pred fps':>9}")
    for r in rows:
        print(f"{r['run']:6} {r['stages']:>6} {r['apply_to_ready_ms']:>10.0f} "
              f"{r['profile_ms']:>9.0f} {r['solve_ms']:>7.1f} {r['attest_ms']:>8.0f} "
              f"{r['provision_ms']:>10.0f} {r['predicted_fps']:>9.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
