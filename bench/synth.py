"""Synthesis cost: wall time and peak memory of `synthesize`, beside an empty cdktf app.

    JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 .venv/bin/python bench/synth.py [--env local]

Three cases, each in a fresh Python process so that none inherits another's warm jsii
runtime: (a) a cdktf app that only imports the AWS provider and synthesizes nothing, the
fixed cost of cdktf and jsii; (b) the example specs; (c) 50 connectors generated from the
examples under new names. The Lambda layer is built once before timing and handed to every
run, so the figures hold synthesis alone.

Memory is the peak resident set of each process of the tree: the Python process (its own
getrusage high-water mark) and the jsii node child (its VmHWM, read from /proc before it
exits), and the tree's peak, sampled every 20 ms from /proc by this script. Linux only.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

# stdlib only: the empty case must not pay for the generator's imports
from generator.layer import LayerArtifact, build_layer  # noqa: E402

RESULT_MARKER = "BENCH-RESULT "
SAMPLE_SECONDS = 0.02


@dataclass
class Figures:
    """What one case cost."""

    case: str
    stacks: int
    wall_seconds: float
    cpu_seconds: float
    python_peak_mb: float
    node_peak_mb: float
    tree_peak_mb: float
    failed: bool = False


def main() -> None:
    """Build the layer, run the three cases, print the table."""
    arguments = _arguments()
    if arguments.child:
        _child(arguments)
        return
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    # past Node 20's end-of-life date jsii prints another banner, silenced by major version
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

    from generator.environments import load_environment

    architecture = load_environment(arguments.env).lambda_.architecture
    layer = build_layer(architecture)
    print(f"layer built before timing, reused by every run: {layer.path.name}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="reef-bench-") as scratch:
        generated = _generate_connectors(Path(scratch) / "connectors", arguments.connectors)
        cases = [
            ("empty app, provider imported", "empty", None),
            ("example specs", "synth", REPOSITORY / "connectors"),
            (f"{arguments.connectors} generated connectors", "synth", generated),
        ]
        # the cases take turns, each round starting with another one, so that a burst of load
        # on a shared machine, or a cold disk cache, does not fall on one case every time
        runs: list[list[Figures]] = [[] for _ in cases]
        for round_number in range(arguments.repeat):
            for turn in range(len(cases)):
                index = (round_number + turn) % len(cases)
                label, mode, connectors = cases[index]
                outdir = Path(scratch) / f"out{index}"
                runs[index].append(_run_case(label, mode, connectors, arguments.env, layer, outdir))
    _print_table([_fastest(case_runs) for case_runs in runs], arguments)


def _fastest(runs: list[Figures]) -> Figures:
    finished = [run for run in runs if not run.failed] or runs
    return min(finished, key=lambda run: run.wall_seconds)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="local", help="environment to synthesize")
    parser.add_argument("--connectors", type=int, default=50, help="generated connectors")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest counts")
    parser.add_argument("--child", choices=["empty", "synth"], help=argparse.SUPPRESS)
    parser.add_argument("--outdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--layer", help=argparse.SUPPRESS)
    return parser.parse_args()


def _generate_connectors(folder: Path, count: int) -> Path:
    """count specs cycled from the examples, each under a new name."""
    folder.mkdir(parents=True)
    examples = sorted((REPOSITORY / "connectors").glob("*.yaml"))
    for number in range(count):
        spec = yaml.safe_load(examples[number % len(examples)].read_text())
        spec["name"] = f"{spec['name'][:24]}-{number:03d}"
        (folder / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def _run_case(
    label: str, mode: str, connectors: Path | None, env: str, layer: LayerArtifact, outdir: Path
) -> Figures:
    print(f"running: {label}", file=sys.stderr, flush=True)
    environment = dict(os.environ)
    if connectors is not None:
        environment["REEF_CONNECTORS_DIR"] = str(connectors)
    layer_argument = json.dumps({"path": str(layer.path), "sha256": layer.sha256})
    command = [sys.executable, __file__, "--child", mode, "--env", env]
    command += ["--outdir", str(outdir), "--layer", layer_argument]

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPOSITORY, env=environment, stdout=subprocess.PIPE, text=True
    )
    sampler = _TreeSampler(process.pid)
    sampler.start()
    stdout, _ = process.communicate()
    wall = time.perf_counter() - started
    sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)

    if process.returncode != 0 or RESULT_MARKER not in stdout:
        print(f"{label}: failed with exit code {process.returncode}", file=sys.stderr)
        return Figures(label, 0, wall, 0.0, 0.0, 0.0, 0.0, failed=True)
    result = json.loads(stdout.split(RESULT_MARKER)[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Figures(
        label,
        result["stacks"],
        wall,
        cpu,
        result["python_peak_kb"] / 1024,
        result["node_peak_kb"] / 1024,
        sampler.peak_kb / 1024,
    )


def _child(arguments: argparse.Namespace) -> None:
    """One case, in its own process; prints its figures as one JSON line."""
    stacks = 0
    if arguments.child == "empty":
        from cdktf import App
        from cdktf_cdktf_provider_aws.provider import AwsProvider

        App(outdir=str(arguments.outdir))
        assert AwsProvider is not None  # imported for its cost, used for nothing
    else:
        from generator.app import synthesize

        layer = json.loads(arguments.layer)
        outdir = synthesize(
            arguments.env,
            arguments.outdir,
            layer=LayerArtifact(Path(layer["path"]), layer["sha256"]),
        )
        stacks = len(list((outdir / "stacks").iterdir()))
    node_peak = sum(_status_kb(pid, "VmHWM") for pid in _descendants(os.getpid()))
    python_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = {"stacks": stacks, "python_peak_kb": python_peak, "node_peak_kb": node_peak}
    print(RESULT_MARKER + json.dumps(figures), flush=True)


class _TreeSampler(threading.Thread):
    """The largest summed resident set of a process and its descendants, sampled."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            pids = [self.pid, *_descendants(self.pid)]
            self.peak_kb = max(self.peak_kb, sum(_status_kb(pid, "VmRSS") for pid in pids))
            self._done.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # the command name in field 2 may hold spaces; the parent id follows its ')'
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # the process ended while we looked
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, its_parent in parents.items() if its_parent == parent]
        found += children
        frontier += children
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass  # the process ended while we looked
    return 0


def _print_table(rows: list[Figures], arguments: argparse.Namespace) -> None:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"\nSynthesis for environment '{arguments.env}', fastest of {arguments.repeat} run(s)"
        f" per case; {os.cpu_count()} cores, load average {load}."
        "\nThe layer was built once before timing and reused: its build time is not included."
    )
    header = f"{'case':<32} {'stacks':>6} {'wall s':>7} {'cpu s':>7}"
    header += f" {'python MB':>10} {'node MB':>8} {'tree MB':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        if row.failed:
            print(f"{row.case:<32} failed after {row.wall_seconds:.1f} s (see its output above)")
            continue
        print(
            f"{row.case:<32} {row.stacks:>6} {row.wall_seconds:>7.1f} {row.cpu_seconds:>7.1f}"
            f" {row.python_peak_mb:>10.0f} {row.node_peak_mb:>8.0f} {row.tree_peak_mb:>8.0f}"
        )
    print(
        "\npython MB and node MB: each process's own peak resident set (getrusage, VmHWM);"
        "\ntree MB: the peak of their sum, sampled every 20 ms. wall s includes process start;"
        "\ncpu s is user + system time of the whole tree, steadier than wall on a busy machine."
    )


if __name__ == "__main__":
    main()
