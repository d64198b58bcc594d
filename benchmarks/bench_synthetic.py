"""Time to generate the default synthetic corpus (24 actors x 30 clips of 3 s, 320x240, 30 fps, 16 kHz).

Usage: python benchmarks/bench_synthetic.py [--workers 1 2] [--n-actors 24] [--scenario additive]
Prints one markdown table row per worker count: wall time, clips per second, and CPU seconds per clip
(summed over the worker processes; less sensitive to other load on the machine than wall time).
"""

import argparse
import os
import resource
import tempfile
import time

from hf_emotion.data import make_synthetic_corpus
from hf_emotion.data.synthetic_scenarios import SCENARIOS


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--n-actors", type=int, default=24)
    parser.add_argument("--scenario", default="additive", choices=SCENARIOS)
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}")
    print("| workers | clips | wall (s) | clips/s | CPU s / clip |")
    print("|---|---|---|---|---|")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as folder:
            cpu, own = children_cpu(), time.process_time()
            start = time.perf_counter()
            result = make_synthetic_corpus(
                folder, n_actors=args.n_actors, num_workers=workers, scenario=args.scenario
            )
            wall = time.perf_counter() - start
            used = children_cpu() - cpu + time.process_time() - own
        print(
            f"| {workers} | {result.n_clips} | {wall:.1f} | {result.n_clips / wall:.2f} | {used / result.n_clips:.3f} |"
        )


if __name__ == "__main__":
    main()
