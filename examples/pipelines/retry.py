"""A failing step, then `runnable retry RUN_ID`: the failed step runs again, the others are reused.

    python examples/pipelines/retry.py            # fails in 'train': there is no 'ready' file yet
    touch ready && runnable retry RUN_ID          # train runs again; prepare is reused
"""

from pathlib import Path

from runnable import Catalog, Pipeline, PythonTask


def prepare() -> int:
    Path("prepared.txt").write_text("prepared\n")
    print("preparing (slow, done once)")
    return 7


def train(seed: int) -> None:
    if not Path("ready").exists():
        raise RuntimeError("the GPU is not ready")
    print(f"training with seed {seed} on {Path('prepared.txt').read_text().strip()} data")


pipeline = Pipeline(steps=[
    PythonTask(name="prepare", function=prepare, returns=["seed"], catalog=Catalog(put=["prepared.txt"])),
    PythonTask(name="train", function=train, catalog=Catalog(get=["prepared.txt"])),
])

if __name__ == "__main__":
    pipeline.execute()
