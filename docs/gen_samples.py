"""Generate the documentation's sample outputs from real runs, so they cannot drift from the code.

    python docs/gen_samples.py            # run the session, rewrite the marked blocks in place
    python docs/gen_samples.py --check    # exit 1, showing the difference, if a block is stale
    python docs/gen_samples.py --all PAGE.md ...   # rewrite every block of those pages, times included

A block is marked by a ``<!-- sample: NAME -->`` line right above its fence; everything inside the
fence is replaced with what the session printed for NAME, unless only what varies differs. The sessions
(docs/history.md with the README's blocks, the failing job of docs/jobs.md, the dry runs of
docs/configuration.md, the chain of docs/lineage.md, the grid of docs/compare.md)
run the documented commands for real, each in a fresh folder, with the run ids the docs use (given
through RUNNABLE_RUN_ID or job_id), so a regenerated page changes only where the output did. Output
is captured through pipes, so tables appear as they do when piped (plain text, every column). ``--check`` compares after blanking what varies
from one machine or moment to the next (times, durations, process ids, host, versions, the folder,
sizes and hashes of logs): see ``normalize``. tests/test_doc_samples.py runs the check.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
PAGES = [REPO / "README.md", DOCS / "history.md", DOCS / "jobs.md", DOCS / "configuration.md", DOCS / "lineage.md",
         DOCS / "pipelines.md",
         DOCS / "compare.md"]
SHOWN_FOLDER = "/tmp/demo/project"  # the working folder as the pages show it

MARKER = re.compile(r"^<!-- sample: (?P<name>[\w-]+) -->\n```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.M | re.S)

TRAIN = '''\
# train.py
from pathlib import Path
from runnable import Catalog, PythonJob

def train(rows: int = 3, note: str = "baseline", fail: bool = False):
    Path("data_folder").mkdir(exist_ok=True)
    Path("df.csv").write_text("x,y\\n" + "".join(f"{i},{i * i}\\n" for i in range(rows)))
    Path("data_folder/data.txt").write_text(f"note: {note}\\n")
    print(f"wrote {rows} rows")
    if fail:
        raise RuntimeError("diverged")

PythonJob(function=train, catalog=Catalog(put=["df.csv", "data_folder/"])).execute()
'''

HASH_ONLY = '''\
from pathlib import Path
from runnable import Catalog, PythonJob

def snapshot():
    Path("big.bin").write_bytes(b"x" * 4096)

PythonJob(function=snapshot, catalog=Catalog(put=["big.bin"], store_copy=False)).execute()
'''

PYTHON_API = '''\
import runnable

for run in runnable.runs(limit=3):
    print(run.run_id, run.status, run.start.isoformat(timespec="seconds"), run.parameters)

run = runnable.get_run("agile-leibniz-6157")
for f in run.files:
    print(f.path, f.size, f.md5, f.stored)
with run.open("df.csv") as handle:
    print(handle.read().decode().splitlines()[:3])
print(run.log(), end="")
print(run.restore(["data_folder/"], to="from_python").written)

try:
    runnable.get_run("agile-leibniz-615")
except KeyError as exc:
    print(exc)
try:
    runnable.get_run("epic-bernoulli-5374").open("df.csv").read()
except runnable.IntegrityError as exc:
    print(exc)
'''

PIPELINE = '''\
"""prepare -> train -> evaluate: each job declares what it reads (get) and what it writes (put)."""
import json
import sys
from pathlib import Path

from runnable import Catalog, PythonJob


def prepare():
    Path("data").mkdir(exist_ok=True)
    rows = [(x, 2 * x + 1) for x in range(100)]
    Path("data/train.csv").write_text("x,y\\n" + "".join(f"{x},{y}\\n" for x, y in rows[:80]))
    Path("data/test.csv").write_text("x,y\\n" + "".join(f"{x},{y}\\n" for x, y in rows[80:]))


def _read(path):
    return [tuple(map(float, line.split(","))) for line in Path(path).read_text().splitlines()[1:]]


def train():
    rows = _read("data/train.csv")
    n = len(rows)
    mx, my = sum(x for x, _ in rows) / n, sum(y for _, y in rows) / n
    slope = sum((x - mx) * (y - my) for x, y in rows) / sum((x - mx) ** 2 for x, _ in rows)
    Path("model.json").write_text(json.dumps({"slope": slope, "intercept": my - slope * mx}) + "\\n")


def evaluate():
    model = json.loads(Path("model.json").read_text())
    rows = _read("data/test.csv")
    error = sum(abs(model["slope"] * x + model["intercept"] - y) for x, y in rows) / len(rows)
    Path("metrics.json").write_text(json.dumps({"mean_abs_error": round(error, 6)}) + "\\n")


JOBS = {
    "prepare": PythonJob(function=prepare, catalog=Catalog(put=["data/"])),
    "train": PythonJob(function=train, catalog=Catalog(get=["data/train.csv"], put=["model.json"])),
    "evaluate": PythonJob(function=evaluate, catalog=Catalog(get=["model.json", "data/test.csv"],
                                                             put=["metrics.json"])),
}

if __name__ == "__main__":
    JOBS[sys.argv[1]].execute()
'''

FAIL_SCRIPT = '''\
from pathlib import Path

from runnable import Catalog, PythonJob


def clean(rows: int):
    Path("partial.csv").write_text("id\\n1\\n")
    raise ValueError(f"row {rows} is malformed")


PythonJob(function=clean, catalog=Catalog(put=["partial.csv", "report/*.pdf"])).execute()
'''

# The four runs of the session, oldest first: (run id, shown command, parameters file content).
RUNS = [
    ("epic-bernoulli-5374", "runnable execute-job train.py", None),
    ("agile-leibniz-6157", "runnable execute-job train.py --parameters more.yaml --tag exp     # rows: 5",
     "rows: 5\n"),
    ("candid-kolmogorov-2297", "runnable execute-job train.py --parameters bad.yaml                # rows: 2, fail: true",
     "rows: 2\nfail: true\n"),
    ("trusty-galileo-6753", "runnable execute-job hash_only.py", None),
]


@dataclass
class Session:
    """A project folder where the documented commands run for real; ``samples`` collects each block."""

    folder: Path
    samples: dict[str, str] = field(default_factory=dict)
    shown_folder: str = SHOWN_FOLDER  # how the pages show ``folder``

    def env(self, run_id: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_") and k not in ("COLUMNS",)}
        env["PYTHONPATH"] = str(REPO)  # this checkout's runnable, whatever is installed
        if run_id:
            env["RUNNABLE_RUN_ID"] = run_id
        return env

    def run(self, shown: str, *, run_id: str | None = None, exit_status: bool = True, output: bool = True,
            command: str | None = None) -> str:
        """Run ``shown`` (or ``command``, when what runs differs from what the page shows) and give
        it as the page shows it: '$ command', its output, '[exit N]'."""
        argv = shlex_split(command or shown)
        if argv[0] == "runnable":
            argv = [sys.executable, "-m", "runnable", *argv[1:]]
            done = subprocess.run(argv, cwd=self.folder, env=self.env(run_id), capture_output=True, text=True,
                                  check=False, timeout=120)
        else:  # a shell line (a redirection, a pipe)
            done = subprocess.run(command or shown, shell=True, cwd=self.folder, env=self.env(run_id),
                                  capture_output=True, text=True, check=False, timeout=120)
        text = f"$ {shown}\n"
        if output:
            text += (done.stdout + done.stderr).replace(str(self.folder), self.shown_folder)
        if exit_status:
            text += f"[exit {done.returncode}]\n"
        return text


def shlex_split(command: str) -> list[str]:
    return shlex.split(command.split("  #")[0])  # a trailing comment is for the reader


def play(folder: Path) -> dict[str, str]:
    """Run the session of docs/history.md (and the README's blocks) in ``folder``, and those of
    docs/jobs.md, configuration.md, lineage.md and compare.md in folders beside it, at the same time:
    they share nothing, and the whole takes about half as long as one after the other (a test runs it).
    """
    others = {"lineage": play_lineage, "compare": play_compare, "jobs": play_jobs,
              "configuration": play_configuration, "pipelines": play_pipelines}
    with ThreadPoolExecutor(max_workers=len(others)) as pool:
        futures = [pool.submit(play_one, folder.parent / name, {}) for name, play_one in others.items()]
        samples = play_history(folder)
        for future in futures:
            samples.update(future.result())
    samples["jobs-quickstart"] = samples["readme-quickstart"]
    return samples


def play_history(folder: Path) -> dict[str, str]:
    """The session of docs/history.md, the README's history block and its quick start."""
    s = Session(folder)
    s.samples["history-train"] = TRAIN
    (folder / "train.py").write_text(TRAIN)
    (folder / "hash_only.py").write_text(HASH_ONLY)
    runs = []
    for run_id, shown, params in RUNS:
        if params is not None:
            (folder / shown.split("--parameters ")[1].split()[0]).write_text(params)
        runs.append(s.run(shown, run_id=run_id, exit_status=False, output=False))
    listing = s.run("runnable runs list", exit_status=False)
    s.samples["history-runs"] = "".join(runs) + listing

    s.samples["readme-history"] = listing + "".join(
        f"$ {line}\n" for line in (
            "runnable runs show agile-leibniz-6157            # parameters, returns, code, every file",
            "runnable logs candid-kolmogorov-2297             # the execution log",
            "runnable runs diff epic-bernoulli-5374 agile-leibniz-6157",
            "runnable catalog get agile-leibniz-6157 'data_folder/' --to restored   # checked against hashes",
            "runnable catalog verify --all                    # OK / CHANGED / MISSING / CORRUPT, exit 1 on problems",
            "runnable gc --status FAIL --dry-run              # what deleting failed runs would free",
        )) + s.run("runnable runs show agile-leibniz-615", exit_status=False)

    s.samples["history-commands"] = "\n".join(s.run(c) for c in (
        "runnable runs list --status FAIL",
        "runnable runs list --tag exp --json",
        "runnable runs show agile-leibniz-6157",
        "runnable logs candid-kolmogorov-2297",
        "runnable runs diff epic-bernoulli-5374 agile-leibniz-6157",
        "runnable runs show agile-leibniz-615",
        "runnable catalog get epic-bernoulli-5374 --to restored",
        "runnable catalog get agile-leibniz-6157 df.csv --to restored",
        "runnable catalog get agile-leibniz-6157 df.csv --to restored --force",
        "runnable catalog get trusty-galileo-6753 --to restored",
        "runnable catalog verify --all",
    ))

    # The first run's df.csv (3 rows): the object the page damages.
    digest = hashlib.md5(b"x,y\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(3))).hexdigest()
    stored = f".catalog/.objects/md5/{digest[:2]}/{digest[2:]}"
    damage = (f"chmod u+w {stored} && printf X | dd of={stored} conv=notrunc 2>/dev/null   # damage a stored copy")
    s.samples["history-damage"] = "\n".join([
        s.run("echo 'x,y' > big.bin       # the hash-only file changes", exit_status=False),
        s.run(damage, exit_status=False),
        *(s.run(c) for c in (
            "runnable catalog verify epic-bernoulli-5374 trusty-galileo-6753",
            "runnable catalog get epic-bernoulli-5374 df.csv --to again",
            "runnable gc --status FAIL --dry-run",
            "runnable gc --status FAIL --yes",
            "runnable runs list",
        )),
    ])

    # The README's quick start, in a folder of its own: the example writes where it is started.
    quick = Session(folder.parent / "quickstart")
    quick.folder.mkdir()
    s.samples["readme-quickstart"] = quick.run(
        "python examples/11-jobs/catalog.py", run_id="sleek-lovelace-6247", exit_status=False,
        command=f"{shlex.quote(sys.executable)} {shlex.quote(str(REPO / 'examples' / '11-jobs' / 'catalog.py'))}")

    s.samples["history-python"] = PYTHON_API
    done = subprocess.run([sys.executable, "-c", PYTHON_API], cwd=folder, env=s.env(), capture_output=True,
                          text=True, check=False, timeout=120)
    s.samples["history-python-output"] = (done.stdout + done.stderr).replace(str(folder), SHOWN_FOLDER)

    return s.samples


# The documented grid of examples/12-compare, each point with the run id docs/compare.md shows:
# the example itself lets runnable name its runs, so the session runs the same job with these ids.
GRID_IDS = {
    (0.05, 2): "fearless-galileo-4716", (0.05, 10): "placid-bernoulli-7853", (0.05, 40): "orderly-carson-6929",
    (0.5, 2): "honest-hardy-4870", (0.5, 10): "resolute-newton-7860", (0.5, 40): "mellow-fibonacci-3559",
}

GRID_DRIVER = """\
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("train_grid", sys.argv[1])
grid = importlib.util.module_from_spec(spec)
sys.modules["train_grid"] = grid
spec.loader.exec_module(grid)
grid.train.__module__ = "__main__"  # as when the example runs as a script: the record names __main__.train
ids = {GRID_IDS!r}
job = grid.PythonJob(function=grid.train, name="train",
                     returns=[grid.metric("accuracy"), grid.pickled("model"), "n_rows"])
for lr, epochs in grid.GRID:
    os.environ.update(RUNNABLE_PRM_lr=str(lr), RUNNABLE_PRM_epochs=str(epochs))
    job.execute(tags=["grid"], job_id=ids[(lr, epochs)])
"""


def runnable_cli(rest: str) -> str:
    """A shell line that runs this checkout's runnable (``runnable`` may not be on PATH)."""
    return f"{shlex.quote(sys.executable)} -m runnable {rest}"


def play_lineage(folder: Path, samples: dict[str, str]) -> dict[str, str]:
    """The prepare -> train -> evaluate chain of docs/lineage.md, in an empty folder of its own."""
    folder.mkdir()
    s = Session(folder)
    samples["lineage-pipeline"] = PIPELINE
    (folder / "pipeline.py").write_text(PIPELINE)
    python = shlex.quote(sys.executable)
    samples["lineage-runs"] = "".join(
        s.run(f"python pipeline.py {job}", run_id=run_id, exit_status=False, command=f"{python} pipeline.py {job}")
        for job, run_id in (("prepare", "warm-schrodinger-3790"), ("train", "calm-fermi-7934"),
                            ("evaluate", "unsolvable-archimedes-3192")))
    samples["lineage-which"] = "".join(s.run(c, exit_status=False) for c in (
        "runnable runs which model.json", "runnable runs which 474fcc58ea")) + s.run(
        "cp data/test.csv ../somewhere-else.csv && runnable runs which ../somewhere-else.csv", exit_status=False,
        command="cp data/test.csv ../somewhere-else.csv && " + runnable_cli("runs which ../somewhere-else.csv"))
    show_end = "runs show unsolvable-archimedes-3192 | sed -n '/^files:/,$p'"
    samples["lineage-show"] = s.run(f"runnable {show_end}", exit_status=False, command=runnable_cli(show_end))
    samples["lineage-up"] = s.run("runnable runs lineage unsolvable-archimedes-3192", exit_status=False)
    samples["lineage-down"] = s.run("runnable runs lineage warm-schrodinger-3790 --down", exit_status=False)
    samples["lineage-dot"] = s.run("runnable runs lineage unsolvable-archimedes-3192 --dot", exit_status=False)
    samples["lineage-status"] = "".join([
        s.run("runnable status"),
        s.run('sed -i "s/^3,7$/3,8/" data/train.csv      # a hand edit of the prepared data', exit_status=False),
        s.run("runnable status"),
        s.run("runnable status train --json"),
        s.run("python pipeline.py train", run_id="curious-cauchy-5183", exit_status=False, output=False,
              command=f"{python} pipeline.py train"),
        s.run("runnable status"),
    ])
    samples["lineage-diff"] = s.run("runnable runs diff calm-fermi-7934 curious-cauchy-5183", exit_status=False)
    return samples


def play_jobs(folder: Path, samples: dict[str, str]) -> dict[str, str]:
    """The failing job of docs/jobs.md ("Failures"), run as the page says, in /tmp/docrun as shown."""
    folder.mkdir()
    samples["jobs-fail-script"] = FAIL_SCRIPT
    (folder / "fail.py").write_text(FAIL_SCRIPT)
    env = Session(folder).env("tranquil-hubble-2817")
    env["RUNNABLE_PRM_rows"] = "17"
    done = subprocess.run([sys.executable, "fail.py"], cwd=folder, env=env, capture_output=True, text=True,
                          check=False, timeout=120)
    if done.returncode != 1:
        raise RuntimeError(f"fail.py exited with {done.returncode}, not 1:\n{done.stdout}{done.stderr}")
    samples["jobs-fail-summary"] = done.stdout  # the summary; the traceback and last line go to stderr
    log = (folder / ".catalog" / "tranquil-hubble-2817" / "clean.execution.log").read_text()
    samples["jobs-fail-log"] = "".join(log.replace(str(folder), "/tmp/docrun").splitlines(keepends=True)[-4:])
    return samples


def play_pipelines(folder: Path, samples: dict[str, str]) -> dict[str, str]:
    """The examples of docs/pipelines.md, run from examples/pipelines/ with the run ids the page shows."""
    folder.mkdir()
    examples = REPO / "examples" / "pipelines"
    for name in ("sequential.py", "parallel.py", "on_failure.py", "retry.py"):
        (folder / name).write_text((examples / name).read_text())
    (folder / "params.yaml").write_text((examples / "params.yaml").read_text())
    s = Session(folder)
    samples["pipelines-sequential-script"] = (examples / "sequential.py").read_text()
    samples["pipelines-sequential"] = s.run("python sequential.py", run_id="steady-turing-0101")
    samples["pipelines-show"] = s.run("runnable runs show steady-turing-0101", exit_status=False)
    s.run("python parallel.py", run_id="brisk-curie-0202")
    steps_only = "sed -n '/^steps:/,/^$/p'"
    samples["pipelines-parallel-show"] = s.run(
        f"runnable runs show brisk-curie-0202 | {steps_only}", exit_status=False,
        command=f"{shlex.quote(sys.executable)} -m runnable runs show brisk-curie-0202 | {steps_only}")
    samples["pipelines-on-failure"] = s.run("python on_failure.py", run_id="calm-noether-0303")
    failed = s.run("python retry.py", run_id="eager-hopper-0404")
    (folder / "ready").write_text("")
    retried = s.run("runnable retry eager-hopper-0404", run_id="eager-hopper-0405")
    samples["pipelines-retry"] = failed + "$ touch ready\n" + retried
    return samples


BAD_CONFIG = """\
job-executor:
  type: local-container
  config:
    image: my-project:latest
    engin: podman
"""


def play_configuration(folder: Path, samples: dict[str, str]) -> dict[str, str]:
    """The dry runs of docs/configuration.md (from the repository root, where the examples are: a dry
    run writes nothing) and its configuration error, in an empty folder."""
    repo = Session(REPO, shown_folder="/path/to/runnable")
    samples["configuration-container"] = repo.run(
        "runnable execute-job examples/11-jobs/catalog.py --config examples/configs/container.yaml --dry-run",
        run_id="solid-wallace-3811", exit_status=False)
    samples["configuration-k8s"] = repo.run(
        "runnable execute-job examples/11-jobs/catalog.py --config examples/configs/k8s.yaml --dry-run "
        "--run-id nightly-2024-01", exit_status=False)
    folder.mkdir()
    (folder / "job.py").write_text(
        "from runnable import PythonJob\n\ndef hello():\n    print('hello')\n\nPythonJob(function=hello).execute()\n")
    (folder / "bad.yaml").write_text(BAD_CONFIG)
    samples["configuration-bad-key"] = Session(folder).run("runnable execute-job job.py --config bad.yaml")
    return samples


def play_compare(folder: Path, samples: dict[str, str]) -> dict[str, str]:
    """The commands of docs/compare.md after the grid example, in an empty folder of its own."""
    folder.mkdir()
    s = Session(folder)
    (folder / "grid.py").write_text(GRID_DRIVER.format(GRID_IDS=GRID_IDS))
    example = REPO / "examples" / "12-compare" / "train_grid.py"
    subprocess.run([sys.executable, "grid.py", str(example)], cwd=folder, env=s.env(), capture_output=True,
                   check=True, timeout=120)
    samples["compare-show"] = s.run("runnable runs show mellow-fibonacci-3559", exit_status=False)
    samples["compare-sort"] = s.run("runnable runs compare --job train --sort -metrics.accuracy", exit_status=False)
    samples["compare-where"] = s.run(
        'runnable runs compare --job train --where "metrics.accuracy > 0.8 and params.lr == 0.5"', exit_status=False)
    samples["compare-errors"] = "".join(s.run(c) for c in (
        'runnable runs compare --job train --where "metrics.acc > 0.8"',
        'runnable runs compare --job train --where "params.lr = 0.5 or params.lr = 0.05"'))
    samples["compare-csv"] = s.run("runnable runs compare --job train --sort -metrics.accuracy --csv",
                                   exit_status=False)
    return samples


# What varies between two honest runs of the same session, blanked before comparing.
VARYING = [
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?(\+00:00)?"), "<time>"),
    (re.compile(r"\d+(\.\d+)?(s|m\d+s)\b"), "<duration>"),
    (re.compile(r'"duration_seconds": [\d.]+'), '"duration_seconds": <n>'),
    (re.compile(r"(ran on\s+)\S+ pid \d+, python \S+"), r"\1<host>"),
    (re.compile(r'"(pid|host)": ("[^"]*"|\d+)'), r'"\1": <n>'),
    (re.compile(r"(runnable\s+)\d+\.\d+\S*"), r"\1<version>"),
    (re.compile(r"\b[0-9a-f]{32}\b|\b[0-9a-f]{64}\b"), "<hash>"),
    (re.compile(r"\d+(\.\d+)? (B|KiB|MiB|bytes)\b"), "<size>"),
    (re.compile(r"--user \d+:\d+"), "--user <uid>:<gid>"),  # the container runs as the calling user
    (re.compile(r"[ \t]+"), " "),  # column widths follow the blanked values
]


def normalize(text: str) -> str:
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def comparable(text: str) -> str:
    """``normalize``d, with the lines of each ``runnable logs`` output sorted: a job's stdout and
    stderr reach its log through two pipes, and under load a line printed just before a traceback
    can land just after it (runnable.run.capture keeps the order within each stream, not across them)."""
    sections: list[list[str]] = []
    current: list[str] = []
    for line in normalize(text).splitlines():
        if line.startswith("$ ") and current:
            sections.append(current)
            current = []
        current.append(line)
    sections.append(current)
    return "\n".join("\n".join(s[:1] + (sorted(s[1:]) if s[0].startswith("$ runnable logs ") else s[1:]))
                     for s in sections if s)


def blocks(page: str) -> Iterator[re.Match[str]]:
    return MARKER.finditer(page)


def render(page: str, samples: dict[str, str], everything: bool = False) -> str:
    """``page`` with its stale blocks (or, with ``everything``, all its blocks: the times of one session
    then agree across the page) replaced by the samples."""
    def replace(match: re.Match[str]) -> str:
        body = samples[match["name"]]
        if not everything and comparable(body) == comparable(match["body"]):
            return match[0]  # only times, sizes and the like differ: the page keeps its text
        return f"<!-- sample: {match['name']} -->\n```{match['lang']}\n{body.rstrip()}\n```"

    return MARKER.sub(replace, page)


def stale(page_path: Path, samples: dict[str, str]) -> list[str]:
    """A unified diff for every marked block of the page that no longer matches its sample."""
    problems = []
    for match in blocks(page_path.read_text()):
        name = match["name"]
        if name not in samples:
            problems.append(f"{page_path.name}: no sample named {name!r} (known: {', '.join(sorted(samples))})")
            continue
        documented, real = normalize(match["body"]), normalize(samples[name])
        if comparable(match["body"]) != comparable(samples[name]):
            diff = "\n".join(difflib.unified_diff(documented.splitlines(), real.splitlines(),
                                                  f"{page_path.name} ({name}, as documented)",
                                                  f"{name}, as it runs now", lineterm=""))
            problems.append(diff)
    return problems


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "project"
        folder.mkdir()
        samples = play(folder)
    if "--check" in argv:
        problems = [p for page in PAGES for p in stale(page, samples)]
        sys.stdout.write(("\n\n".join(problems) if problems else "every sample matches") + "\n")
        return 1 if problems else 0
    everything = {Path(a).resolve() for a in argv[argv.index("--all") + 1:]} if "--all" in argv else set()
    for page in PAGES:
        text = page.read_text()
        page.write_text(render(text, samples, page.resolve() in everything))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
