"""Functions the examples run as jobs. Plain Python: nothing here knows about runnable."""

from pathlib import Path


def write_files() -> None:
    """Write a small CSV file and a text file in a sub-folder of the working folder."""
    Path("df.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    Path("data_folder").mkdir(exist_ok=True)
    Path("data_folder/data.txt").write_text("hello world\n")
    print("wrote df.csv and data_folder/data.txt")
