"""Built-in NumPy/SciPy analyses of a numeric CSV file, usable as Python tasks (SPEC §5).

Each is called as `function(inputs=[Path…], params={name: value…}, workdir=Path)`, reads the first
input and returns a JSON-serialisable dict (plain floats/ints/lists, NaN and infinities as None).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from app.analytics.table import Table, read_table

METHODS = ("pearson", "spearman")
ALTERNATIVES = ("two-sided", "less", "greater")
MAX_BINS = 1000
HISTOGRAM_FILE = "histogram.csv"
_QUANTILES = (("25%", 25.0), ("50%", 50.0), ("75%", 75.0))


def describe(inputs: list[Path], params: dict, workdir: Path) -> dict:
    """Per column: count, mean, sample std, min, quartiles and max."""
    table = _table(inputs)
    columns = []
    for i, name in enumerate(table.names):
        values = table.values(i)
        summary: dict[str, Any] = {"name": name, "count": int(values.size)}
        summary["mean"] = _float(np.mean(values)) if values.size else None
        summary["std"] = _float(np.std(values, ddof=1)) if values.size > 1 else None
        summary["min"] = _float(np.min(values)) if values.size else None
        for key, q in _QUANTILES:
            summary[key] = _float(np.percentile(values, q)) if values.size else None
        summary["max"] = _float(np.max(values)) if values.size else None
        columns.append(summary)
    return {"rows": int(table.data.shape[0]), "columns": columns}


def correlate(inputs: list[Path], params: dict, workdir: Path) -> dict:
    """The correlation matrix of all columns (Pearson or Spearman), with p-values."""
    method = _param(params, "method", "pearson")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    table = _table(inputs)
    data = _complete_rows(table.data)
    if data.shape[0] < 2:
        raise ValueError("correlation needs at least 2 rows without missing values")
    test = stats.pearsonr if method == "pearson" else stats.spearmanr
    k = table.width
    matrix: list[list[float | None]] = [[None] * k for _ in range(k)]
    p_values: list[list[float | None]] = [[None] * k for _ in range(k)]
    for i in range(k):
        if np.ptp(data[:, i]) > 0:  # a column correlates perfectly with itself, unless constant
            matrix[i][i], p_values[i][i] = 1.0, 0.0
        for j in range(i + 1, k):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a constant column: NaN, reported as None
                result = test(data[:, i], data[:, j])
            matrix[i][j] = matrix[j][i] = _float(result.statistic)
            p_values[i][j] = p_values[j][i] = _float(result.pvalue)
    return {"method": method, "columns": table.names, "n": int(data.shape[0]), "matrix": matrix, "p_values": p_values}


def linear_regression(inputs: list[Path], params: dict, workdir: Path) -> dict:
    """Least-squares line y = slope * x + intercept between two columns."""
    table = _table(inputs)
    xi = table.index(_selector(params, "x", 1))
    yi = table.index(_selector(params, "y", -1))
    data = _complete_rows(table.data[:, [xi, yi]])
    if data.shape[0] < 2:
        raise ValueError("linear regression needs at least 2 rows without missing values")
    if np.ptp(data[:, 0]) == 0:
        raise ValueError(f"column {table.names[xi]!r} is constant: the slope is undefined")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = stats.linregress(data[:, 0], data[:, 1])
    return {
        "x": table.names[xi],
        "y": table.names[yi],
        "slope": _float(fit.slope),
        "intercept": _float(fit.intercept),
        "r": _float(fit.rvalue),
        "r_squared": _float(fit.rvalue**2),
        "p_value": _float(fit.pvalue),
        "stderr": _float(fit.stderr),
        "intercept_stderr": _float(fit.intercept_stderr),
        "n": int(data.shape[0]),
    }


def ttest(inputs: list[Path], params: dict, workdir: Path) -> dict:
    """Two-sample t-test between two columns (Welch's unless equal_var)."""
    alternative = _param(params, "alternative", "two-sided")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, not {alternative!r}")
    equal_var = _bool(_param(params, "equal_var", False), "equal_var")
    table = _table(inputs)
    ai = table.index(_selector(params, "a", 1))
    bi = table.index(_selector(params, "b", 2))
    a, b = table.values(ai), table.values(bi)
    if a.size < 2 or b.size < 2:
        raise ValueError("the t-test needs at least 2 values in each column")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two constant columns: NaN, reported as None
        result = stats.ttest_ind(a, b, equal_var=equal_var, alternative=alternative)
    return {
        "a": table.names[ai],
        "b": table.names[bi],
        "equal_var": equal_var,
        "alternative": alternative,
        "statistic": _float(result.statistic),
        "p_value": _float(result.pvalue),
        "df": _float(getattr(result, "df", None)),
        "mean_a": _float(np.mean(a)),
        "mean_b": _float(np.mean(b)),
        "n_a": int(a.size),
        "n_b": int(b.size),
    }


def histogram(inputs: list[Path], params: dict, workdir: Path) -> dict:
    """Counts of one column's values in equal-width bins; also written to histogram.csv."""
    bins = _int(_param(params, "bins", 10), "bins")
    if not 1 <= bins <= MAX_BINS:
        raise ValueError(f"bins must be from 1 to {MAX_BINS}, not {bins}")
    table = _table(inputs)
    index = table.index(_selector(params, "column", 1))
    values = table.values(index)
    counts, edges = np.histogram(values, bins=bins)
    edge_list = [float(e) for e in edges]
    count_list = [int(c) for c in counts]
    rows = ["bin_start,bin_end,count"]
    rows += [f"{edge_list[i]!r},{edge_list[i + 1]!r},{count}" for i, count in enumerate(count_list)]
    (Path(workdir) / HISTOGRAM_FILE).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {"column": table.names[index], "n": int(values.size), "bins": bins, "counts": count_list, "edges": edge_list}


# --- helpers ------------------------------------------------------------------------------------


def _table(inputs: list[Path]) -> Table:
    if not inputs:
        raise ValueError("no input file: this analysis reads one CSV file")
    return read_table(inputs[0])


def _param(params: dict | None, name: str, default: Any) -> Any:
    value = (params or {}).get(name)
    return default if value is None else value


def _selector(params: dict | None, name: str, default: int) -> str | int:
    """A column selector; empty means the default (a 1-based index, negative from the end)."""
    value = _param(params, name, default)
    return default if isinstance(value, str) and not value.strip() else value


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def _int(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdecimal():
        return int(value.strip(), 10)
    raise ValueError(f"{name} must be an integer, not {value!r}")


def _complete_rows(data: np.ndarray) -> np.ndarray:
    """The rows without a missing value."""
    return data[~np.isnan(data).any(axis=1)]


def _float(value: Any) -> float | None:
    """A plain float, or None for a missing, NaN or infinite value."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
