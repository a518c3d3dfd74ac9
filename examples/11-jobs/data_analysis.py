"""Data analysis job: a summary table, one plot per region and a text of findings.

The function writes ``sales_summary.csv``, ``plots/sales_trend_{region}.png`` for four regions and
``insights.txt``; the catalog stores them with an exact name and a glob. Run it with::

    python examples/11-jobs/data_analysis.py
"""

import csv
import random
from pathlib import Path

from examples.common.artifacts import line_chart, write_png
from runnable import Catalog, PythonJob

REGIONS = ["north", "south", "east", "west"]
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]


def load_sales(seed: int = 7):
    """Monthly sales per region (generated, so the example needs no data file)."""
    rng = random.Random(seed)
    return {region: [rng.randint(1500, 2700) for _ in MONTHS] for region in REGIONS}


def analyze_sales_data():
    sales = load_sales()

    with open("sales_summary.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["region", "total", "best_month", "worst_month"])
        for region, values in sales.items():
            best = MONTHS[values.index(max(values))]
            worst = MONTHS[values.index(min(values))]
            writer.writerow([region, sum(values), best, worst])

    Path("plots").mkdir(exist_ok=True)
    for region in REGIONS:
        write_png(f"plots/sales_trend_{region}.png", line_chart(sales[region]))

    totals = {region: sum(values) for region, values in sales.items()}
    leader = max(totals, key=totals.get)
    with open("insights.txt", "w") as f:
        f.write("Key findings\n")
        f.write(f"- {leader} sold the most: {totals[leader]}\n")
        f.write(f"- total sales over {len(MONTHS)} months: {sum(totals.values())}\n")

    print(f"analysed {len(REGIONS)} regions over {len(MONTHS)} months")
    return {"total_sales": sum(totals.values()), "best_region": leader}


def main():
    # Store all outputs using an exact name and a glob pattern
    catalog = Catalog(put=["sales_summary.csv", "plots/*.png", "insights.txt"])
    job = PythonJob(function=analyze_sales_data, catalog=catalog, returns=["summary"])

    job.execute()

    return job


if __name__ == "__main__":
    main()
