"""Client values that look like options never stand alone on a command line (SPEC §3, issue 13)."""

from __future__ import annotations

import pytest

from app.errors import ParameterError
from app.services.commands import alone_parameters
from app.services.parameters import STRING_MAX, ParamSpec, resolve_values


def spec(name: str, **kwargs) -> ParamSpec:
    return ParamSpec(name=name, rest_alias=name, **kwargs)


def test_which_placements_stand_alone():
    params = [spec("positional"), spec("switchless", flag="-k", switchless=True), spec("flagged", flag="-k"),
              spec("joined", flag="-k", spacing=False), spec("just_value", flag="VALUE"),
              spec("assigned", flag="--key=VALUE"), spec("switch", type="bool", flag="-v")]
    assert alone_parameters("sort $P $I1", params) == {"positional", "switchless", "just_value"}
    assert alone_parameters(None, params) == frozenset()


def test_value_placed_alone_by_the_value_placeholder():
    params = [spec("out", flag="--out=VALUE")]
    assert alone_parameters("tool $VALUE", params) == {"out"}
    assert alone_parameters("tool --file=$VALUE", params) == frozenset()


@pytest.mark.parametrize("value", ["-o/some/path", "--output=/etc/passwd", "-"])
def test_option_like_values_refused_where_alone(value):
    params = [spec("key")]
    with pytest.raises(ParameterError) as caught:
        resolve_values(params, {"key": value}, alone=frozenset({"key"}))
    assert "must not begin with '-'" in caught.value.errors["key"][0]
    assert "option" in caught.value.errors["key"][0]


def test_option_like_values_pass_behind_a_flag_or_when_allowed():
    assert resolve_values([spec("key", flag="-k")], {"key": "-x"}) == {"key": "-x"}
    allowed = spec("key", allow_leading_dash=True)
    assert resolve_values([allowed], {"key": "-x"}, alone=frozenset({"key"})) == {"key": "-x"}
    assert resolve_values([spec("n", type="int")], {"n": "-5"}, alone=frozenset({"n"})) == {"n": -5}
    assert resolve_values([spec("key", default="-admin")], {}, alone=frozenset({"key"})) == {"key": "-admin"}


def test_strings_have_a_default_maximum_length_that_a_parameter_overrides():
    with pytest.raises(ParameterError) as caught:
        resolve_values([spec("text")], {"text": "x" * (STRING_MAX + 1)})
    assert caught.value.errors["text"] == [f"must be at most {STRING_MAX} characters long"]
    assert resolve_values([spec("text", max=100_000)], {"text": "x" * 50_000})["text"] == "x" * 50_000
