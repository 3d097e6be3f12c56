"""Command-line building: tokenising, placeholders, parameter rendering and load-time checks."""

from __future__ import annotations

import pytest

from app.errors import ConfigError
from app.services.commands import build_argv, check_executable, render_param
from app.services.parameters import ParamSpec

THREADS = ParamSpec(name="threads", type="int", flag="-t")
LONG = ParamSpec(name="long", type="bool", flag="-l")
SIZE = ParamSpec(name="size", type="int", flag="--size=VALUE")
NAME = ParamSpec(name="name", type="string", flag="--name")


def build(executable: str, params=(), inputs=None, out_globs=None) -> list[str]:
    return build_argv(
        executable,
        inputs=inputs if inputs is not None else [["in.fa"]],
        out_globs=out_globs if out_globs is not None else [".out"],
        params=list(params),
        stem="sub1",
        workdir="/tmp/w",
    )


def check(executable: str, params=(), n_in: int = 1, n_out: int = 1) -> list[str]:
    return check_executable(executable, n_in=n_in, n_out=n_out, params=list(params))


# --- render_param -------------------------------------------------------------------------------


def test_bool_true_renders_flag_alone() -> None:
    assert render_param(LONG, True) == ["-l"]


def test_bool_false_renders_nothing() -> None:
    assert render_param(LONG, False) == []


def test_bool_without_flag_renders_nothing() -> None:
    assert render_param(ParamSpec(name="b", type="bool"), True) == []


def test_unset_value_renders_nothing() -> None:
    assert render_param(THREADS, None) == []


def test_spacing_true_gives_two_tokens() -> None:
    assert render_param(THREADS, 12) == ["-t", "12"]


def test_spacing_false_gives_one_token() -> None:
    assert render_param(ParamSpec(name="t", type="int", flag="-t", spacing=False), 12) == ["-t12"]


def test_switchless_renders_value_only() -> None:
    assert render_param(ParamSpec(name="t", type="int", flag="-t", switchless=True), 12) == ["12"]


def test_empty_flag_renders_value_only() -> None:
    assert render_param(ParamSpec(name="f", type="string"), "x y") == ["x y"]


def test_value_in_flag_is_replaced() -> None:
    assert render_param(SIZE, 12) == ["--size=12"]


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        (ParamSpec(name="f", type="float", flag="-e"), 1e-3, ["-e", "0.001"]),
        (ParamSpec(name="f", type="float", flag="-e"), 1e-5, ["-e", "1e-05"]),
        (ParamSpec(name="f", type="float", flag="-e"), 2.0, ["-e", "2.0"]),
        (ParamSpec(name="i", type="int", flag="-n"), -5, ["-n", "-5"]),
        (ParamSpec(name="i", type="int", flag="-n", spacing=False), -5, ["-n-5"]),
        (ParamSpec(name="s", type="string", flag="-s"), "-5", ["-s", "-5"]),
        (ParamSpec(name="c", type="choice", flag="-k", choices=[3, 5]), 5, ["-k", "5"]),
    ],
)
def test_values_are_converted_to_text(spec: ParamSpec, value: object, expected: list[str]) -> None:
    assert render_param(spec, value) == expected


# --- build_argv: tokens and placeholders --------------------------------------------------------


def test_plain_executable_is_split_like_a_shell() -> None:
    assert build("prog  -a   b") == ["prog", "-a", "b"]


def test_quoted_token_with_spaces_stays_one_token() -> None:
    assert build('prog "my file.txt" \'a b\'') == ["prog", "my file.txt", "a b"]


def test_input_placeholder() -> None:
    assert build("prog $I1") == ["prog", "in.fa"]


def test_second_input_placeholder() -> None:
    assert build("prog $I2 $I1", inputs=[["a"], ["b"]]) == ["prog", "b", "a"]


def test_fan_in_gives_one_token_per_file_in_order() -> None:
    argv = build("prog -i $I1 -x", inputs=[["s1.fa", "s2.fa", "s3.fa"]])
    assert argv == ["prog", "-i", "s1.fa", "s2.fa", "s3.fa", "-x"]


def test_input_with_no_files_renders_nothing() -> None:
    assert build("prog $I1 --in=$I1 end", inputs=[[]]) == ["prog", "end"]


def test_output_placeholder_is_stem_plus_glob() -> None:
    assert build("prog $O1 $O2", out_globs=[".out", "_b.txt"]) == ["prog", "sub1.out", "sub1_b.txt"]


def test_placeholder_inside_a_token() -> None:
    assert build("prog --out=$O1 prefix_$ID --in=$I1") == [
        "prog",
        "--out=sub1.out",
        "prefix_sub1",
        "--in=in.fa",
    ]


def test_several_placeholders_in_one_token() -> None:
    assert build("prog $TMP/$ID$O1") == ["prog", "/tmp/w/sub1sub1.out"]


def test_id_and_tmp() -> None:
    assert build("prog $ID $TMP") == ["prog", "sub1", "/tmp/w"]


def test_braced_placeholder_separates_from_following_letters() -> None:
    assert build("prog ${ID}_x.txt $ID_x") == ["prog", "sub1_x.txt", "$ID_x"]


@pytest.mark.parametrize("token", ["$HOME", "$PATH", "$1", "$", "$IDX", "$I", "$O", "100$", "$TMPDIR"])
def test_unknown_dollar_words_stay_literal(token: str) -> None:
    assert build(f"prog {token}") == ["prog", token]


def test_quotes_do_not_stop_substitution() -> None:
    assert build("prog '$ID'") == ["prog", "sub1"]


def test_awk_script_is_one_literal_token() -> None:
    assert build("awk '{print $1; print $2}' $I1") == ["awk", "{print $1; print $2}", "in.fa"]


def test_fan_in_inside_a_token_is_refused_at_build_time() -> None:
    with pytest.raises(ConfigError, match="stand alone"):
        build("prog --in=$I1", inputs=[["a", "b"]])


def test_invalid_template_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="stdout_glob"):
        build("prog $I1 > out.txt")


# --- build_argv: parameters ---------------------------------------------------------------------


def test_unplaced_parameters_are_appended_in_declaration_order() -> None:
    argv = build("prog $I1", [(NAME, "x"), (THREADS, 4), (LONG, True)])
    assert argv == ["prog", "in.fa", "--name", "x", "-t", "4", "-l"]


def test_false_and_unset_parameters_render_nothing() -> None:
    assert build("prog", [(LONG, False), (THREADS, None), (NAME, "n")]) == ["prog", "--name", "n"]


def test_numbered_parameter_placeholder() -> None:
    argv = build("prog $P2 $I1", [(NAME, "x"), (THREADS, 4)])
    assert argv == ["prog", "-t", "4", "in.fa", "--name", "x"]


def test_bare_p_renders_every_parameter_not_placed_by_number() -> None:
    argv = build("prog $P $I1 $P2", [(NAME, "x"), (THREADS, 4), (LONG, True)])
    assert argv == ["prog", "--name", "x", "-l", "in.fa", "-t", "4"]


def test_bare_p_means_nothing_is_appended() -> None:
    assert build("prog $P end", [(THREADS, 4)]) == ["prog", "-t", "4", "end"]


def test_bare_p_with_everything_placed_renders_nothing() -> None:
    assert build("prog $P $P1 end", [(THREADS, 4)]) == ["prog", "-t", "4", "end"]


def test_single_token_parameter_inside_a_token() -> None:
    spec = ParamSpec(name="k", type="int", flag="-k", spacing=False)
    assert build("prog x$P1", [(spec, 3)]) == ["prog", "x-k3"]


def test_parameter_rendering_nothing_drops_its_whole_token() -> None:
    spec = ParamSpec(name="k", type="string", switchless=True)
    assert build("prog --k=$P1 end", [(spec, None)]) == ["prog", "end"]


def test_value_placeholder_uses_first_value_parameter_and_consumes_it() -> None:
    other = ParamSpec(name="other", type="int", flag="--o=VALUE")
    argv = build("prog -s $VALUE", [(THREADS, 4), (SIZE, 12), (other, 7)])
    assert argv == ["prog", "-s", "12", "-t", "4", "--o=7"]


def test_value_parameter_is_not_rendered_by_bare_p_when_consumed() -> None:
    assert build("prog $P --size $VALUE", [(SIZE, 12), (THREADS, 4)]) == [
        "prog",
        "-t",
        "4",
        "--size",
        "12",
    ]


def test_value_parameter_without_value_placeholder_renders_its_flag() -> None:
    assert build("prog", [(SIZE, 12), (THREADS, 4)]) == ["prog", "--size=12", "-t", "4"]
    assert build("prog $P1", [(SIZE, 12)]) == ["prog", "--size=12"]


def test_value_placeholder_inside_a_token_and_unset() -> None:
    assert build("prog -s=$VALUE", [(SIZE, 3)]) == ["prog", "-s=3"]
    assert build("prog -s=$VALUE x", [(SIZE, None)]) == ["prog", "x"]


def test_shell_metacharacters_in_a_value_stay_one_token() -> None:
    argv = build("prog $P1", [(NAME, "x; rm -rf /")])
    assert argv == ["prog", "--name", "x; rm -rf /"]
    assert build("prog", [(NAME, "$(reboot) `id` | cat > /etc/passwd")])[-1] == (
        "$(reboot) `id` | cat > /etc/passwd"
    )


def test_placeholder_text_in_a_value_is_not_expanded_again() -> None:
    assert build("prog $P1 $ID", [(NAME, "$ID $I1")]) == ["prog", "--name", "$ID $I1", "sub1"]


def test_negative_and_exponent_values() -> None:
    exp = ParamSpec(name="e", type="float", flag="-e")
    argv = build("prog", [(THREADS, -5), (exp, 1e-3)])
    assert argv == ["prog", "-t", "-5", "-e", "0.001"]


# --- check_executable ---------------------------------------------------------------------------


def test_valid_template_has_no_problems() -> None:
    params = [THREADS, SIZE, LONG]
    assert check("prog $I1 $O1 $P1 $P --size=$VALUE $ID $TMP/x ${ID}.log $HOME", params) == []


def test_redirect_is_refused_with_a_pointer_to_stdout_glob() -> None:
    assert check("prog $I1 > out.txt") == [
        "`>` is not allowed: commands are run without a shell; use stdout_glob to save standard output"
    ]


def test_pipe_is_refused_with_a_pointer_to_stdout_glob() -> None:
    (problem,) = check("prog $I1 | sort")
    assert problem.startswith("`|` is not allowed") and "stdout_glob" in problem


@pytest.mark.parametrize(
    "executable",
    [
        "prog >> log",
        "prog < in",
        "prog 2> err",
        "prog 2>err",
        "prog >out.txt",
        "prog 2>&1",
        "prog &> all",
        "a && b",
        "a || b",
        "a ; b",
        "a &",
    ],
)
def test_shell_operators_are_refused(executable: str) -> None:
    (problem,) = check(executable)
    assert "not allowed: commands are run without a shell" in problem


def test_quoted_operator_inside_an_argument_is_fine() -> None:
    assert check("awk '$3 > 5 { print }' $I1") == []


@pytest.mark.parametrize("executable", ["", "   ", "''", "\t\n"])
def test_empty_template_is_refused(executable: str) -> None:
    assert check(executable) == ["The executable is empty"]


@pytest.mark.parametrize("executable", ['prog "unclosed', "prog 'a", "prog \\"])
def test_unbalanced_quotes_are_refused(executable: str) -> None:
    (problem,) = check(executable)
    assert "unbalanced quotes" in problem


@pytest.mark.parametrize(
    ("executable", "needle"),
    [
        ("prog $I3", "`$I3` refers to in_glob 3 but only 2 are declared"),
        ("prog $O2", "`$O2` refers to out_glob 2 but only 1 are declared"),
        ("prog $P5", "`$P5` refers to parameter 5 but only 3 are declared"),
        ("prog $I0", "`$I0`: numbering starts at 1"),
        ("prog ${P9}", "`${P9}` refers to parameter 9"),
    ],
)
def test_out_of_range_placeholders_are_refused(executable: str, needle: str) -> None:
    (problem,) = check(executable, [THREADS, LONG, NAME], n_in=2, n_out=1)
    assert needle in problem


def test_value_placeholder_needs_a_value_parameter() -> None:
    (problem,) = check("prog $VALUE", [THREADS])
    assert "no parameter's flag contains VALUE" in problem


def test_numbered_placeholder_for_a_consumed_value_parameter_is_refused() -> None:
    (problem,) = check("prog $VALUE $P1", [SIZE])
    assert "consumed by `$VALUE`" in problem
    assert check("prog $P1", [SIZE]) == []


def test_multi_token_parameters_must_stand_alone() -> None:
    (problem,) = check("prog --x=$P", [THREADS])
    assert "must stand alone" in problem
    (problem,) = check("prog --x=$P1", [THREADS])
    assert "must stand alone" in problem


@pytest.mark.parametrize(
    "spec",
    [
        LONG,
        SIZE,
        ParamSpec(name="t", type="int", flag="-t", spacing=False),
        ParamSpec(name="t", type="int", flag="-t", switchless=True),
        ParamSpec(name="t", type="int"),
    ],
)
def test_single_token_parameters_may_be_embedded(spec: ParamSpec) -> None:
    assert check("prog x$P1", [spec]) == []


def test_several_problems_are_all_reported() -> None:
    assert len(check("prog $I2 > out | sort $O3", n_in=1, n_out=1)) == 4
