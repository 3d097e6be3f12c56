"""Unit tests for the built-in analyses (app.analytics), checked against independent computations."""

from __future__ import annotations

import importlib
import inspect
import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from app.analytics import stats
from app.analytics.table import parse_table, read_table
from app.services.catalog_schema import parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "app" / "examples" / "analytics.yaml"
ANALYSES = ("describe", "correlate", "linear_regression", "ttest", "histogram")

X = [1.0, 2.0, 4.0, 5.0, 7.0]
Y = [2.0, 3.5, 3.0, 6.5, 8.0]
Z = [10.0, 8.0, 9.5, 4.0, 1.0]
SAMPLE = "x,y,z\n" + "".join(f"{a},{b},{c}\n" for a, b, c in zip(X, Y, Z, strict=True))


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(name: str, tmp_path: Path, text: str = SAMPLE, **params: Any) -> dict:
    result = getattr(stats, name)(inputs=[write(tmp_path, text)], params=params, workdir=tmp_path)
    assert_plain_json(result)
    return result


def assert_plain_json(value: Any) -> None:
    """Only plain Python types, no NaN: what json.dumps(allow_nan=False) accepts exactly."""
    json.dumps(value, allow_nan=False)
    if isinstance(value, dict):
        assert all(type(k) is str for k in value)
        for item in value.values():
            assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain_json(item)
    else:
        assert value is None or type(value) in (bool, int, float, str), type(value)


# --- independent reference computations -----------------------------------------------------------


def pearson(a: list[float], b: list[float]) -> float:
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    sab = sum((p - ma) * (q - mb) for p, q in zip(a, b, strict=True))
    saa = sum((p - ma) ** 2 for p in a)
    sbb = sum((q - mb) ** 2 for q in b)
    return sab / math.sqrt(saa * sbb)


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    ordered = sorted(values)
    return [ordered.index(v) + 1 + (ordered.count(v) - 1) / 2 for v in values]


def t_cdf_df2(t: float) -> float:
    """The CDF of Student's t with 2 degrees of freedom (closed form)."""
    return 0.5 + t / (2 * math.sqrt(2 + t * t))


def t_two_sided_df3(t: float) -> float:
    """Two-sided p-value of Student's t with 3 degrees of freedom (closed form)."""
    t = abs(t)
    s = math.sqrt(3)
    cdf_upper = 0.5 + (math.atan(t / s) + s * t / (3 + t * t)) / math.pi
    return 2 * (1 - cdf_upper)


# --- the CSV reader -------------------------------------------------------------------------------


def test_header_row_names_columns(tmp_path):
    table = read_table(write(tmp_path, "a, b ,c\n1,2,3\n4,5,6\n"))
    assert table.has_header
    assert table.names == ["a", "b", "c"]
    assert table.data.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_no_header_names_c1_to_cn(tmp_path):
    table = read_table(write(tmp_path, "1,2\n3.5,-4e1\n"))
    assert not table.has_header
    assert table.names == ["c1", "c2"]
    assert table.data.tolist() == [[1, 2], [3.5, -40]]


def test_header_when_any_cell_is_not_numeric():
    table = parse_table("1,b\n2,3\n")
    assert table.names == ["1", "b"]
    assert table.data.tolist() == [[2, 3]]


def test_blank_lines_crlf_and_bom_ignored(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes("\ufeffa,b\r\n\r\n1,2\r\n   \r\n3,4\r\n\r\n".encode())
    table = read_table(path)
    assert table.names == ["a", "b"]
    assert table.data.tolist() == [[1, 2], [3, 4]]


def test_single_column_file():
    table = parse_table("v\n1\n2\n")
    assert table.names == ["v"]
    assert table.data.shape == (2, 1)


def test_nan_is_a_missing_value():
    table = parse_table("a,b\n1,nan\n2,3\n")
    assert table.column("b").tolist() == [3.0]
    assert table.column("a").tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n\n3,4,5\n", "line 4: expected 2 columns, found 3"),
        ("1,2,3\n4,5\n", "line 2: expected 3 columns, found 2"),
        ("a,b\n1,2\n3,x\n", "line 3, column 2: 'x' is not a number"),
        ("a,b\n1,2\n\n,4\n", "line 4, column 1: empty cell"),
        ("a,b\n1,inf\n", "line 2, column 2: 'inf' is not a finite number"),
        ("", "empty"),
        ("\n  \n", "empty"),
        ("a,b\n\n", "no data rows"),
    ],
)
def test_bad_csv_raises_value_error(text, message):
    with pytest.raises(ValueError, match=message):
        parse_table(text)


def test_bad_csv_through_an_analysis_names_the_line(tmp_path):
    with pytest.raises(ValueError, match="line 3"):
        run("describe", tmp_path, "a,b\n1,2\n3,oops\n")


def test_not_utf8_is_a_value_error(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,\xe9\n1,2\n")
    with pytest.raises(ValueError, match="UTF-8"):
        read_table(path)


@pytest.mark.parametrize(
    ("selector", "index"),
    [("x", 0), ("z", 2), ("1", 0), ("3", 2), (2, 1), (" 2 ", 1), ("-1", 2), (-3, 0)],
)
def test_column_selection_by_name_or_index(selector, index):
    assert parse_table(SAMPLE).index(selector) == index


def test_a_name_wins_over_an_index():
    table = parse_table("2,1,x\n10,20,30\n")
    assert table.index("2") == 0
    assert table.index("1") == 1
    assert table.index(3) == 2


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("w", "no column named 'w'"),
        ("4", "out of range"),
        (0, "out of range"),
        ("-4", "out of range"),
        (True, "name or 1-based index"),
        (1.5, "name or 1-based index"),
    ],
)
def test_bad_column_selection(selector, message):
    with pytest.raises(ValueError, match=message):
        parse_table(SAMPLE).index(selector)


def test_ambiguous_column_name():
    with pytest.raises(ValueError, match="ambiguous"):
        parse_table("a,a\n1,2\n").index("a")


# --- describe -------------------------------------------------------------------------------------


def test_describe_matches_statistics_module(tmp_path):
    result = run("describe", tmp_path)
    assert result["rows"] == 5
    assert [c["name"] for c in result["columns"]] == ["x", "y", "z"]
    for column, values in zip(result["columns"], (X, Y, Z), strict=True):
        q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
        assert column["count"] == len(values)
        assert column["mean"] == pytest.approx(statistics.mean(values))
        assert column["std"] == pytest.approx(statistics.stdev(values))
        assert column["min"] == min(values)
        assert column["max"] == max(values)
        assert column["25%"] == pytest.approx(q1)
        assert column["50%"] == pytest.approx(statistics.median(values))
        assert column["50%"] == pytest.approx(q2)
        assert column["75%"] == pytest.approx(q3)


def test_describe_hand_computed_quartiles(tmp_path):
    column = run("describe", tmp_path, "1\n2\n3\n4\n")["columns"][0]
    assert column["name"] == "c1"
    assert (column["min"], column["25%"], column["50%"], column["75%"], column["max"]) == (1, 1.75, 2.5, 3.25, 4)
    assert column["mean"] == 2.5


def test_describe_one_value_has_no_std_and_missing_values_are_skipped(tmp_path):
    result = run("describe", tmp_path, "a,b\n5,nan\nnan,nan\n")
    a, b = result["columns"]
    assert a["count"] == 1 and a["mean"] == 5.0 and a["std"] is None and a["50%"] == 5.0
    assert b["count"] == 0 and b["mean"] is None and b["min"] is None and b["max"] is None


# --- correlate ------------------------------------------------------------------------------------


def test_correlate_pearson_by_formula(tmp_path):
    result = run("correlate", tmp_path)
    assert result["method"] == "pearson"
    assert result["columns"] == ["x", "y", "z"]
    assert result["n"] == 5
    columns = (X, Y, Z)
    for i in range(3):
        for j in range(3):
            assert result["matrix"][i][j] == pytest.approx(pearson(columns[i], columns[j]))
    assert result["matrix"][0][0] == 1.0 and result["p_values"][0][0] == 0.0


def test_correlate_pearson_p_value_by_formula(tmp_path):
    result = run("correlate", tmp_path)
    r = pearson(X, Y)
    t = r * math.sqrt((len(X) - 2) / (1 - r * r))  # n = 5: t with 3 degrees of freedom
    assert result["p_values"][0][1] == pytest.approx(t_two_sided_df3(t))
    assert result["p_values"][1][0] == result["p_values"][0][1]


def test_correlate_spearman_is_pearson_of_ranks(tmp_path):
    text = "a,b\n1,10\n2,20\n3,25\n4,24\n5,100\n6,100\n"
    result = run("correlate", tmp_path, text, method="spearman")
    a, b = [1, 2, 3, 4, 5, 6], [10, 20, 25, 24, 100, 100]
    assert result["method"] == "spearman"
    assert result["matrix"][0][1] == pytest.approx(pearson(ranks(a), ranks(b)))


def test_correlate_perfect_and_constant_columns(tmp_path):
    result = run("correlate", tmp_path, "a,b,c\n1,3,7\n2,1,7\n3,-1,7\n")
    assert result["matrix"][0][1] == pytest.approx(-1.0)
    assert result["matrix"][2] == [None, None, None]
    assert result["p_values"][0][2] is None


def test_correlate_skips_rows_with_missing_values(tmp_path):
    result = run("correlate", tmp_path, "a,b\n1,2\n2,nan\n3,5\n4,4\n")
    assert result["n"] == 3
    assert result["matrix"][0][1] == pytest.approx(pearson([1, 3, 4], [2, 5, 4]))


def test_correlate_rejects_unknown_method_and_too_few_rows(tmp_path):
    with pytest.raises(ValueError, match="method"):
        run("correlate", tmp_path, method="kendall")
    with pytest.raises(ValueError, match="at least 2 rows"):
        run("correlate", tmp_path, "a,b\n1,2\n")


# --- linear_regression ----------------------------------------------------------------------------


def least_squares(x: list[float], y: list[float]) -> dict[str, float]:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    slope = sxy / sxx
    intercept = my - slope * mx
    sse = sum((b - (intercept + slope * a)) ** 2 for a, b in zip(x, y, strict=True))
    return {"slope": slope, "intercept": intercept, "stderr": math.sqrt(sse / (n - 2) / sxx)}


def test_linear_regression_defaults_first_and_last_columns(tmp_path):
    result = run("linear_regression", tmp_path)
    expected = least_squares(X, Z)
    assert (result["x"], result["y"], result["n"]) == ("x", "z", 5)
    assert result["slope"] == pytest.approx(expected["slope"])
    assert result["intercept"] == pytest.approx(expected["intercept"])
    assert result["stderr"] == pytest.approx(expected["stderr"])
    r = pearson(X, Z)
    assert result["r"] == pytest.approx(r)
    assert result["r_squared"] == pytest.approx(r * r)
    t = expected["slope"] / expected["stderr"]
    assert result["p_value"] == pytest.approx(t_two_sided_df3(t))


@pytest.mark.parametrize(("x", "y"), [("x", "y"), ("1", "2"), (1, 2), ("x", "-2")])
def test_linear_regression_column_selection(tmp_path, x, y):
    result = run("linear_regression", tmp_path, x=x, y=y)
    assert (result["x"], result["y"]) == ("x", "y")
    assert result["slope"] == pytest.approx(least_squares(X, Y)["slope"])


def test_linear_regression_exact_line_and_empty_selectors(tmp_path):
    result = run("linear_regression", tmp_path, "1,5\n2,7\n3,9\n4,11\n", x="", y=" ")
    assert result["slope"] == pytest.approx(2.0)
    assert result["intercept"] == pytest.approx(3.0)
    assert result["r"] == pytest.approx(1.0)
    assert result["n"] == 4


def test_linear_regression_refuses_constant_x_and_too_few_rows(tmp_path):
    with pytest.raises(ValueError, match="constant"):
        run("linear_regression", tmp_path, "a,b\n1,2\n1,3\n1,4\n")
    with pytest.raises(ValueError, match="at least 2 rows"):
        run("linear_regression", tmp_path, "a,b\n1,2\n2,nan\n")


# --- ttest ----------------------------------------------------------------------------------------


def test_ttest_welch_by_formula(tmp_path):
    result = run("ttest", tmp_path)
    va, vb = statistics.variance(X), statistics.variance(Y)
    na, nb = len(X), len(Y)
    se2 = va / na + vb / nb
    t = (statistics.mean(X) - statistics.mean(Y)) / math.sqrt(se2)
    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    assert result["statistic"] == pytest.approx(t)
    assert result["df"] == pytest.approx(df)
    assert (result["a"], result["b"], result["n_a"], result["n_b"]) == ("x", "y", 5, 5)
    assert result["mean_a"] == pytest.approx(statistics.mean(X))
    assert result["mean_b"] == pytest.approx(statistics.mean(Y))
    assert result["equal_var"] is False and result["alternative"] == "two-sided"
    assert 0 < result["p_value"] < 1


def test_ttest_student_pooled_with_closed_form_p_values(tmp_path):
    a, b = [1.0, 3.0], [4.0, 8.0]  # pooled: 2 degrees of freedom
    text = "a,b\n1,4\n3,8\n"
    pooled = ((len(a) - 1) * statistics.variance(a) + (len(b) - 1) * statistics.variance(b)) / 2
    t = (statistics.mean(a) - statistics.mean(b)) / math.sqrt(pooled * (1 / 2 + 1 / 2))
    two = run("ttest", tmp_path, text, equal_var=True)
    assert two["statistic"] == pytest.approx(t)
    assert two["df"] == pytest.approx(2.0)
    assert two["p_value"] == pytest.approx(2 * t_cdf_df2(-abs(t)))
    less = run("ttest", tmp_path, text, equal_var=True, alternative="less")
    assert less["p_value"] == pytest.approx(t_cdf_df2(t))
    greater = run("ttest", tmp_path, text, equal_var=True, alternative="greater")
    assert greater["p_value"] == pytest.approx(1 - t_cdf_df2(t))


def test_ttest_columns_by_name_and_unequal_sizes(tmp_path):
    result = run("ttest", tmp_path, "p,q,r\n1,9,2\n2,nan,4\n3,8,6\n4,nan,9\n", a="r", b="q", equal_var="false")
    assert (result["a"], result["b"], result["n_a"], result["n_b"]) == ("r", "q", 4, 2)
    assert result["mean_b"] == 8.5


def test_ttest_rejects_bad_parameters(tmp_path):
    with pytest.raises(ValueError, match="alternative"):
        run("ttest", tmp_path, alternative="sideways")
    with pytest.raises(ValueError, match="equal_var"):
        run("ttest", tmp_path, equal_var="maybe")
    with pytest.raises(ValueError, match="at least 2 values"):
        run("ttest", tmp_path, "a,b\n1,2\n")
    with pytest.raises(ValueError, match="out of range"):
        run("ttest", tmp_path, "1\n2\n3\n")  # b defaults to column 2


# --- histogram ------------------------------------------------------------------------------------


def test_histogram_counts_by_counting(tmp_path):
    values = [0, 1, 1, 2, 3, 3, 3, 4, 9, 10]
    text = "v,w\n" + "".join(f"{v},0\n" for v in values)
    result = run("histogram", tmp_path, text, column="v", bins=5)
    edges = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert result["edges"] == pytest.approx(edges)
    expected = [sum(1 for v in values if lo <= v < hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    expected[-1] += values.count(10)  # the last bin includes its right edge
    assert result["counts"] == expected == [3, 4, 1, 0, 2]
    assert (result["column"], result["n"], result["bins"]) == ("v", 10, 5)


def test_histogram_writes_csv_file(tmp_path):
    result = run("histogram", tmp_path, "1\n2\n2\n4\n", bins=3)
    lines = (tmp_path / "histogram.csv").read_text().splitlines()
    assert lines[0] == "bin_start,bin_end,count"
    rows = [[float(cell) for cell in line.split(",")] for line in lines[1:]]
    assert [row[2] for row in rows] == result["counts"] == [1, 2, 1]
    assert [row[0] for row in rows] + [rows[-1][1]] == result["edges"]
    assert sum(result["counts"]) == result["n"] == 4


def test_histogram_defaults_and_one_bin(tmp_path):
    result = run("histogram", tmp_path)
    assert result["column"] == "x" and result["bins"] == 10 and len(result["counts"]) == 10
    assert sum(result["counts"]) == 5
    one = run("histogram", tmp_path, column="3", bins=1)
    assert one["counts"] == [5] and one["edges"] == [min(Z), max(Z)]


@pytest.mark.parametrize("bins", [0, 1001, -1, "ten", 2.5, True])
def test_histogram_rejects_bad_bins(tmp_path, bins):
    with pytest.raises(ValueError, match="bins"):
        run("histogram", tmp_path, bins=bins)


# --- every analysis -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ANALYSES)
def test_signature_and_missing_params(tmp_path, name):
    function = getattr(stats, name)
    assert list(inspect.signature(function).parameters) == ["inputs", "params", "workdir"]
    result = function(inputs=[write(tmp_path, SAMPLE)], params={}, workdir=tmp_path)
    assert_plain_json(result)
    assert function([write(tmp_path, SAMPLE)], {"unrelated": 1}, tmp_path) == result


@pytest.mark.parametrize("name", ANALYSES)
def test_uses_the_first_input_and_needs_one(tmp_path, name):
    first = write(tmp_path, SAMPLE, "first.csv")
    second = write(tmp_path, "oops\n", "second.csv")
    assert_plain_json(getattr(stats, name)(inputs=[first, second], params={}, workdir=tmp_path))
    with pytest.raises(ValueError, match="no input file"):
        getattr(stats, name)(inputs=[], params={}, workdir=tmp_path)


def test_example_config_runs_every_analysis_with_its_defaults(tmp_path):
    config = parse_config(EXAMPLE.read_text())
    assert [b["name"] for b in config["backends"]] == ["py"]
    tasks = {task["name"]: task for task in config["tasks"]}
    assert set(tasks) == set(ANALYSES)
    assert {job["name"] for job in config["jobs"]} == {f"{name}_csv" for name in ANALYSES}
    for job in config["jobs"]:
        assert job["validators"] == ["numeric_csv"] and job["description"]
    for name, task in tasks.items():
        module, _, attr = task["function"].partition(":")
        function = getattr(importlib.import_module(module), attr)
        params = {p["name"]: p["default"] for p in task["parameters"]}
        workdir = tmp_path / name
        workdir.mkdir()
        result = function(inputs=[write(workdir, SAMPLE)], params=params, workdir=workdir)
        assert_plain_json(result)
        assert task["in_globs"] == [".csv"]
        assert task["out_globs"] == ([".json", ".csv"] if name == "histogram" else [".json"])
    assert (tmp_path / "histogram" / "histogram.csv").is_file()
