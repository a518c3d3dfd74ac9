"""Notebook jobs: a real kernel runs the notebook; the executed copy is stored in the run's catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runnable import Catalog, JobFailedError, NotebookJob

nbformat = pytest.importorskip("nbformat", reason="needs the notebook extra: pip install 'runnable[notebook]'")
pytest.importorskip("papermill", reason="needs the notebook extra: pip install 'runnable[notebook]'")
pytest.importorskip("ipykernel", reason="needs the notebook extra: pip install 'runnable[notebook]'")


def write_notebook(path: Path, *cells: str, parameters: str = "rows = 2\nlabel = 'default'") -> None:
    nb = nbformat.v4.new_notebook()
    tagged = nbformat.v4.new_code_cell(parameters)
    tagged.metadata["tags"] = ["parameters"]
    nb.cells = [tagged, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def record_of(run_id: str) -> dict[str, Any]:
    return json.loads(Path(f".run_log_store/{run_id}.json").read_text())


def outputs_text(nb: Any) -> str:
    text = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text.append(output.get("text", "") or json.dumps(output.get("data", {})))
    return "".join(text)


CELLS = (
    "import sys, pathlib\nprint('kernel python', sys.executable)",
    "pathlib.Path('table.csv').write_text('\\n'.join(str(i) for i in range(rows)) + '\\n')\n"
    "print(f'{label}: wrote {rows} rows')",
)


def test_notebook_runs_with_parameters_and_is_stored_executed(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_notebook(workdir / "analysis.ipynb", *CELLS)
    monkeypatch.setenv("RUNNABLE_PRM_rows", "5")
    Path("params.yaml").write_text("label: monthly\n")
    record = NotebookJob(notebook="analysis.ipynb", catalog=Catalog(put=["table.csv"])).execute(
        parameters_file="params.yaml", job_id="nb-ok"
    )
    assert record.status == "SUCCESS"
    data = record_of("nb-ok")
    assert data["job"]["kind"] == "notebook" and data["job"]["notebook"] == "analysis.ipynb"
    assert data["parameters"] == {"rows": 5, "label": "monthly"}
    assert [f["path"] for f in data["files"]] == ["table.csv", "analysis.executed.ipynb"]
    assert Path("table.csv").read_text() == "0\n1\n2\n3\n4\n"
    executed = nbformat.read(".catalog/nb-ok/analysis.executed.ipynb", as_version=4)
    text = outputs_text(executed)
    assert "monthly: wrote 5 rows" in text
    import sys

    assert f"kernel python {sys.executable}" in text  # the job's own interpreter ran the notebook
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert not Path("analysis.executed.ipynb").exists()  # the working folder is left as it was
    log = Path(".catalog/nb-ok/analysis.execution.log").read_text()
    assert "monthly: wrote 5 rows" in log


def test_failing_cell_fails_the_run_and_keeps_the_executed_notebook(workdir: Path) -> None:
    write_notebook(workdir / "broken.ipynb", "print('before')", "raise ValueError('cell exploded')", "print('after')")
    with pytest.raises(JobFailedError, match="cell exploded"):
        NotebookJob(notebook="broken.ipynb").execute(job_id="nb-fail")
    data = record_of("nb-fail")
    assert data["status"] == "FAIL"
    assert "ValueError" in data["error"]["message"] and "cell exploded" in data["error"]["message"]
    assert "failed in the cell starting \"raise ValueError('cell exploded')\"" in data["error"]["message"]
    assert [f["path"] for f in data["files"]] == ["broken.executed.ipynb"]
    executed = nbformat.read(".catalog/nb-fail/broken.executed.ipynb", as_version=4)
    text = outputs_text(executed)
    assert "before" in text and "after" not in text


def test_missing_notebook_fails_naming_it(workdir: Path) -> None:
    with pytest.raises(JobFailedError, match="'absent.ipynb' does not exist"):
        NotebookJob(notebook="absent.ipynb").execute()


@pytest.mark.parametrize("text", ["print('a script')\n", '{"not": "a notebook"}', "\xff\xfe"])
def test_a_file_that_is_not_a_notebook_fails_naming_it_before_it_starts(workdir: Path, text: str) -> None:
    Path("notnb.py").write_text(text, encoding="latin-1")
    Path("left.txt").write_text("left by something else")
    with pytest.raises(JobFailedError, match="'notnb.py' is not a Jupyter notebook") as failed:
        NotebookJob("notnb.py", catalog=Catalog(put=["left.txt"])).execute()
    assert failed.value.record.files == []  # it never started: nothing collected as its output


def test_a_notebook_without_kernel_metadata_takes_parameters(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.v4.new_notebook()  # as nbformat writes it: no kernelspec, no language_info
    nb.cells = [nbformat.v4.new_code_cell("threshold = 0.5"), nbformat.v4.new_code_cell("print('t', threshold)")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, "bare.ipynb")
    monkeypatch.setenv("RUNNABLE_PRM_threshold", "0.7")
    record = NotebookJob("bare.ipynb").execute()
    assert record.status == "SUCCESS"
    executed = nbformat.read(f".catalog/{record.run_id}/bare.executed.ipynb", as_version=4)
    assert "t 0.7" in outputs_text(executed)


def test_a_foreign_python3_kernelspec_does_not_hijack_the_run(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 'python3' kernel registered for another interpreter (here: one that does not exist) is ignored."""
    spec_dir = workdir.parent / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": ["/nonexistent/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Some other Python", "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(workdir.parent / "jupyter"))
    write_notebook(workdir / "small.ipynb", "print('ran', rows)")
    record = NotebookJob(notebook="small.ipynb").execute(job_id="nb-env")
    assert record.status == "SUCCESS"
    assert "ran 2" in outputs_text(nbformat.read(".catalog/nb-env/small.executed.ipynb", as_version=4))


def test_the_executed_notebook_is_stored_with_secrets_masked(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = 'hunter2"xy\\z'  # a quote and a backslash: JSON writes them escaped in the notebook
    monkeypatch.setenv("API_KEY", secret)
    monkeypatch.setenv("RUNNABLE_PRM_label", secret)
    write_notebook(workdir / "nb.ipynb", "import os\nprint('key', os.environ['API_KEY'])\nlabel")
    record = NotebookJob(notebook="nb.ipynb", secrets=["API_KEY"]).execute(job_id="nb-secret")
    assert record.status == "SUCCESS"
    stored = Path(".catalog/nb-secret/nb.executed.ipynb").read_text()
    assert "hunter2" not in stored
    executed = nbformat.reads(stored, as_version=4)  # still a valid notebook
    assert "key *****" in outputs_text(executed)


NOISY = "import sys, warnings\nwarnings.warn('the notebook warns')\nprint('[nb] WARNING | its own', file=sys.stderr)"


def test_the_kernel_starts_without_its_plain_tcp_warning_and_the_notebooks_own_warnings_stay(
        tmp_path: Path) -> None:
    """ipykernel 7 warns "Kernel is running over TCP without encryption" on every start: the kernel's
    connection is encrypted instead, so the line is in neither the console nor the log."""
    from tests.conftest import REPO, run_python

    write_notebook(tmp_path / "noisy.ipynb", NOISY)
    (tmp_path / "job.py").write_text("from runnable import NotebookJob\nNotebookJob('noisy.ipynb').execute(job_id='nb-quiet')\n")
    done = run_python(tmp_path / "job.py", tmp_path, env={"PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    log = (tmp_path / ".catalog/nb-quiet/noisy.execution.log").read_text()
    for text in (done.stdout + done.stderr, log):
        assert "without encryption" not in text and "IPKernelApp" not in text
        assert "UserWarning: the notebook warns" in text and "[nb] WARNING | its own" in text
