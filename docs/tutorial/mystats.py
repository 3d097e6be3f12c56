"""Python steps for the tutorial: plain functions called as f(inputs=[Path], params={...}, workdir=Path)."""

import csv
import statistics

MISSING = ("", "NA")


def drop_missing(inputs, params, workdir):
    """Keep the rows of a CSV file that have a value in every column; write them to complete.csv."""
    with open(inputs[0], newline="", encoding="utf-8") as source:
        rows = list(csv.reader(source))
    header, body = rows[0], rows[1:]
    kept = [row for row in body if all(cell.strip() not in MISSING for cell in row)]
    with open(workdir / "complete.csv", "w", newline="", encoding="utf-8") as target:
        csv.writer(target).writerows([header, *kept])
    return {"rows": len(body), "kept": len(kept)}  # stored as a JSON result


def zscores(inputs, params, workdir):
    """Standardise one column (params["column"]): write standardised.csv, return the mean and sd used."""
    column = params["column"]
    with open(inputs[0], newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    if not rows or column not in rows[0]:
        raise ValueError(f"there is no column {column!r}")
    values = [float(row[column]) for row in rows if row[column].strip() not in MISSING]
    mean, sd = statistics.mean(values), statistics.stdev(values)
    with open(workdir / "standardised.csv", "w", newline="", encoding="utf-8") as target:
        out = csv.writer(target)
        out.writerow([*rows[0], f"{column}_z"])
        for row in rows:
            cell = row[column].strip()
            z = "" if cell in MISSING else f"{(float(cell) - mean) / sd:.3f}"
            out.writerow([*row.values(), z])
    return {"column": column, "n": len(values), "mean": mean, "sd": sd}
