"""The pages' pure parts: the DAG's layout, the form's fields and how a posted form is read."""

from __future__ import annotations

import io

from werkzeug.datastructures import FileStorage, ImmutableMultiDict

from app.web import dag, forms

JOB = {
    "inputs": [{"name": "input_data", "glob": ".csv", "validators": ["csv"], "required": True}],
    "parameters": [
        {"alias": "t_n", "step": "t", "name": "n", "type": "int", "default": 3, "required": False, "choices": None,
         "min": 1, "max": 9, "pattern": None, "description": "How many"},
        {"alias": "t_mode", "step": "t", "name": "mode", "type": "choice", "default": None, "required": True,
         "choices": ["a", "b"], "min": None, "max": None, "pattern": None, "description": ""},
        {"alias": "t_loud", "step": "t", "name": "loud", "type": "bool", "default": True, "required": False,
         "choices": None, "min": None, "max": None, "pattern": None, "description": "Shout"},
        {"alias": "t_tag", "step": "t", "name": "tag", "type": "string", "default": "x", "required": False,
         "choices": None, "min": 1, "max": 8, "pattern": "[a-z]+", "description": "A tag"},
    ],
}


def test_a_diamond_is_laid_out_in_three_columns_centred():
    picture = dag.layout([("a", [], "Complete", ""), ("b", ["a"], "Running", ""), ("c", ["a"], "Queued", ""),
                          ("d", ["b", "c"], "Pending", "")])
    x = {n.name: n.x for n in picture.nodes}
    y = {n.name: n.y for n in picture.nodes}
    assert x["a"] < x["b"] == x["c"] < x["d"]
    assert y["b"] < y["a"] < y["c"] and y["a"] == y["d"]  # a and d sit between b and c
    assert {(e.parent, e.child) for e in picture.edges} == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}
    assert picture.width >= x["d"] + dag.NODE_W and picture.height >= y["c"] + dag.NODE_H


def test_fields_follow_types_and_defaults():
    made = {f.name: f for f in forms.fields(JOB)}
    assert made["input_data"].kind == "file" and made["input_data"].attrs == {"accept": ".csv"}
    assert made["input_data"].required and "(csv)" in made["input_data"].help
    assert (made["t_n"].kind, made["t_n"].value, made["t_n"].attrs) == ("number", 3, {"min": "1", "max": "9", "step": "1"})
    assert made["t_mode"].kind == "select" and made["t_mode"].choices == ["a", "b"] and made["t_mode"].required
    assert made["t_loud"].kind == "checkbox" and made["t_loud"].value is True and made["t_loud"].help == "Shout."
    assert made["t_tag"].attrs == {"pattern": "[a-z]+", "minlength": "1", "maxlength": "8"}
    assert forms.fields(JOB, {"t_n": "7", "t_loud": "false"})[1].value == "7"
    assert next(f for f in forms.fields(JOB, {"t_loud": "false"}) if f.name == "t_loud").value is False


def test_a_posted_form_empty_fields_absent_unticked_box_false():
    form = ImmutableMultiDict({"t_n": "", "t_mode": "b", "t_tag": "abc"})
    files = ImmutableMultiDict({"input_data": FileStorage(io.BytesIO(b"1,2\n"), filename="d.csv")})
    params, inputs = forms.read(JOB, form, files)
    assert params == {"t_mode": "b", "t_loud": "false", "t_tag": "abc"}
    assert inputs["input_data"].data == b"1,2\n" and inputs["input_data"].filename == "d.csv"
    _, none = forms.read(JOB, ImmutableMultiDict({"t_loud": "true"}),
                         ImmutableMultiDict({"input_data": FileStorage(io.BytesIO(b""), filename="")}))
    assert none == {}



def test_the_email_field_is_optional_and_keeps_what_was_typed():
    field = forms.email_field("someone@localhost")
    assert (field.name, field.kind, field.required, field.value) == ("email", "email", False, "someone@localhost")
    assert field.attrs == {"autocomplete": "email", "maxlength": "254"} and forms.email_field().value == ""
