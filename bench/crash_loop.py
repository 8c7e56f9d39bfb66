#!/usr/bin/python3
"""The tiered-storage crash loop, longer than the test suite runs it.

    bench/crash_loop.py [--strata build/strata] [--cycles 100] [--seed N]

Starts a broker with 256 KiB segments and a cold tier that takes every
sealed segment at once, then repeats: produce 50 KiB acks=all batches from
a thread, kill -9 the broker at a random moment (0.2-1.2 s in), restart
it. At the end it reads the partition from offset 0 (every batch's CRC is
checked) and reports acknowledged records lost, records stored twice, and
gaps in the offsets; it exits 1 if any. The loop itself is
tests/integration/test_tiers.py's crash_loop, which the suite runs for 20
cycles.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from strata_harness import Broker  # noqa: E402
from it_util import create_topic, unique_topic  # noqa: E402
import test_tiers  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--strata", default=os.path.join(HERE, "..", "build",
                                                     "strata"))
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    os.environ["STRATA_BIN"] = os.path.abspath(args.strata)
    cold = tempfile.mkdtemp(prefix="strata-cold-")
    settings = test_tiers.tier_settings(cold, **{
        "log.segment.bytes": 256 * 1024, "log.tier.cold.after.ms": 0})
    b = Broker(settings)
    b.start()
    try:
        topic = create_topic(b.bootstrap, unique_topic("crash"), 1)
        t0 = time.monotonic()
        acked = test_tiers.crash_loop(b, cold, topic, args.cycles, args.seed)
        _, recs = test_tiers.fetch_all_raw(b, topic, 0)
        seen = {}
        for r in recs:
            seen[r.value] = seen.get(r.value, 0) + 1
        lost = sum(1 for v in acked if v not in seen)
        twice = sum(1 for n in seen.values() if n > 1)
        gaps = [r.offset for r in recs] != list(range(len(recs)))
        cold_segs = len(test_tiers.seg_files(cold, topic, 0))
        print("cycles %d (seed %d) in %.0f s: %d records acknowledged, %d "
              "stored, %d cold segments; lost %d, twice %d, offset gaps %s"
              % (args.cycles, args.seed, time.monotonic() - t0, len(acked),
                 len(recs), cold_segs, lost, twice, "yes" if gaps else "no"))
        return 1 if lost or twice or gaps else 0
    finally:
        problems = b.stop()
        if problems:
            print("broker stop: %s" % problems)
        b.cleanup()
        shutil.rmtree(cold, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
