"""Report generation job: a PDF report, charts and the data behind them.

Writes ``monthly_report.pdf``, ``charts/sales.png``, ``charts/growth.png``, ``data/summary.csv`` and
``data/details.json``; the catalog keeps copies of all of them (reports should be archived).
"""

import csv
import json
from itertools import pairwise
from pathlib import Path

from examples.common.artifacts import bar_chart, line_chart, write_pdf, write_png
from runnable import Catalog, PythonJob

WEEKS = [12_400, 13_100, 12_900, 14_800]


def generate_monthly_report():
    growth = [round(100 * (b - a) / a, 1) for a, b in pairwise(WEEKS)]

    write_pdf(
        "monthly_report.pdf",
        "Monthly report",
        [f"Week {i + 1}: {value} sales" for i, value in enumerate(WEEKS)]
        + [f"Growth week over week (%): {growth}"],
    )

    Path("charts").mkdir(exist_ok=True)
    write_png("charts/sales.png", bar_chart(WEEKS))
    write_png("charts/growth.png", line_chart(growth))

    Path("data").mkdir(exist_ok=True)
    with open("data/summary.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["week", "sales"])
        writer.writerows(enumerate(WEEKS, start=1))
    with open("data/details.json", "w") as f:
        json.dump({"weeks": WEEKS, "growth_percent": growth, "total": sum(WEEKS)}, f, indent=2)

    print("report written to monthly_report.pdf")
    return "Report completed"


def main():
    # Store report outputs using glob patterns
    catalog = Catalog(
        put=["monthly_report.pdf", "charts/*.png", "data/*.csv", "data/*.json"],
        store_copy=True,  # Reports should be archived
    )
    job = PythonJob(function=generate_monthly_report, catalog=catalog, returns=["message"])

    job.execute()

    return job


if __name__ == "__main__":
    main()
