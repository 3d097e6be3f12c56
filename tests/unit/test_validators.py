"""Unit tests for the input validators (no database)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from app.errors import ValidationFailed
from app.services import validators
from app.services.validators import BUILTIN, unknown_validators, validate, validate_all

HERE = "tests.unit.test_validators"
NOT_UTF8 = b"caf\xe9 \xff\xfe"  # Latin-1 bytes, invalid as UTF-8
PROTEIN = "MKVLAAGIVGLLLAQSAWAEDTKKPETQEPRSPAAAGDHTRVYLGHLPEGC"  # 51 residues
NOT_CALLABLE = 42


# --- custom validators referenced as `tests.unit.test_validators:<name>` ---


def reject_everything(data: bytes) -> bool:
    return False


def accept_everything(data: bytes) -> bool:
    return True


def accept_silently(data: bytes) -> None:
    return None


def numpy_false(data: bytes) -> np.bool_:
    return np.bool_(False)


def explode(data: bytes) -> None:
    raise ValueError("header line is missing\nsecond line with internals")


def explode_without_message(data: bytes) -> None:
    raise KeyError


def custom_failure(data: bytes) -> None:
    raise ValidationFailed("needs at least 3 lines")


def call_exit(data: bytes) -> None:
    raise SystemExit(3)


class Holder:
    @staticmethod
    def check(data: bytes) -> bool:
        return data.startswith(b"ok")


# --- helpers ---


def png_bytes() -> bytes:
    """A real 1x1 grey PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def rejects(name: str, data: bytes) -> str:
    """Assert the validator rejects data cleanly and return its message."""
    with pytest.raises(ValidationFailed) as info:
        validate(name, data)
    message = info.value.message
    assert message and "Traceback" not in message
    assert info.value.__cause__ is None
    return message


def fasta(*records: tuple[str, str]) -> bytes:
    return "".join(f">{name}\n{seq}\n" for name, seq in records).encode()


# --- the registry ---


def test_builtin_names() -> None:
    expected = {"none", "text", "json", "csv", "numeric_csv", "fasta", "seq", "pdb", "pdb_file"}
    assert expected | {"png", "jpeg", "gif"} <= set(BUILTIN)
    assert BUILTIN["pdb_file"] is BUILTIN["pdb"]


@pytest.mark.parametrize("name", ["text", "json", "csv", "numeric_csv", "fasta", "seq", "pdb", "pdb_file"])
def test_text_validators_reject_non_utf8_cleanly(name: str) -> None:
    assert "not valid UTF-8" in rejects(name, NOT_UTF8)


# --- none, text, json ---


@pytest.mark.parametrize("data", [b"", b"\x00\xff\xfe", b"anything"])
def test_none_accepts_everything(data: bytes) -> None:
    validate("none", data)


@pytest.mark.parametrize("data", ["héllo wörld\n".encode(), b"", "\ufeffwith BOM".encode()])
def test_text_accepts_utf8(data: bytes) -> None:
    validate("text", data)


def test_text_rejects_nul_and_binary() -> None:
    assert "NUL" in rejects("text", b"abc\x00def")
    assert rejects("text", NOT_UTF8) == "not valid UTF-8 text"
    assert rejects("text", png_bytes()) == "not valid UTF-8 text"


@pytest.mark.parametrize(
    "data", [b'{"a": [1, 2.5, null]}', b"[]", b"3", '\ufeff{"k": "\u00e9"}'.encode()]
)
def test_json_accepts(data: bytes) -> None:
    validate("json", data)


@pytest.mark.parametrize("data", [b"", b"  \n", b'{"a": 1', b"{'a': 1}", b"[NaN]", b'"\xff"'])
def test_json_rejects(data: bytes) -> None:
    rejects("json", data)


def test_json_too_deep_is_a_clean_failure() -> None:
    assert rejects("json", b"[" * 100_000) == "not valid JSON: nested too deeply"


def test_json_message_names_position() -> None:
    assert rejects("json", b'{\n  "a": 1,\n}').startswith("not valid JSON: line 3")


# --- numeric_csv: the strict one ---


@pytest.mark.parametrize(
    "data",
    [
        b"a,b,c\n1,2,3\n4.5,-6e3,7\n",
        b"1,2,3\n4,5,6",
        b"x,y\r\n1,2\r\n3,4\r\n",
        b"1\n2\n3\n",
        b"name\n1.5\n",
        b" 1 , 2 \n\n3,nan\n",
    ],
)
def test_numeric_csv_accepts(data: bytes) -> None:
    validate("numeric_csv", data)


def test_numeric_csv_ragged_row_names_line() -> None:
    message = rejects("numeric_csv", b"a,b,c,d\n1,2,3,4\n5,6,7\n")
    assert message == "line 3: expected 4 columns, found 3"


def test_numeric_csv_non_numeric_cell_names_line_and_column() -> None:
    assert rejects("numeric_csv", b"a,b\n1,2\n\n3,x\n") == "line 4, column 2: 'x' is not a number"
    assert rejects("numeric_csv", b"1,2\n3,\n") == "line 2, column 2: empty cell"


@pytest.mark.parametrize("data", [b"", b"\n  \n", b"a,b,c\n", b"1;2;3\n4;5;6\n"])
def test_numeric_csv_rejects(data: bytes) -> None:
    rejects("numeric_csv", data)


# --- csv: any well-formed table ---


@pytest.mark.parametrize(
    "data",
    [
        b"a,b,c\n1,2,3\n4.5,-6e3,7\n",
        b"country;population;note\nFrance;68,4;\nPeru;NA;andes\n",  # ; and decimal commas, NA, empty
        b"name,score\n\"Smith, J\",3\nLee,\n",  # a quoted delimiter, a missing value
        b"x\ty\r\n1\t2\r\n",
        b"a|b\nfoo|bar\n",
        b"one column\nalpha\nbeta\n",
        "\ufeffcol,\u00e9t\u00e9\n1,2\n".encode(),
        b'id,comment\n1,"two\nlines"\n2,fine\n',
    ],
)
def test_csv_accepts_real_exports(data: bytes) -> None:
    validate("csv", data)


def test_csv_names_the_line_of_a_ragged_row_and_the_delimiter() -> None:
    assert rejects("csv", b"a;b;c\n1;2;3\n4;5\n") == "line 3: expected 3 columns separated by ';', found 2"


@pytest.mark.parametrize("data, message", [
    (b"", "empty CSV file"),
    (b"\n \n", "empty CSV file"),
    (b"a,b,c\n", "CSV file has a header but no data rows"),
    (b'a,b\n"open,2\n', "not a well-formed CSV file: unexpected end of data"),
    (b"a,b\n1,\x00\n", "not a CSV file: contains NUL bytes"),
])
def test_csv_rejects_with_a_reason(data: bytes, message: str) -> None:
    assert rejects("csv", data) == message


# --- fasta ---


@pytest.mark.parametrize(
    "data",
    [
        b">seq1 some description\nACGTACGTNN\nACGT\n>seq2\nacgu\n",
        fasta(("p", PROTEIN + "*")),
        b"\n>gapped\nMKV--LAA\n\n>two\nMKVQ-LAA\n",
    ],
)
def test_fasta_accepts(data: bytes) -> None:
    validate("fasta", data)


def test_fasta_rejects() -> None:
    assert rejects("fasta", b"") == "empty FASTA file"
    assert rejects("fasta", b"ACGT\n>x\nACGT\n") == "line 1: expected a '>' header line"
    assert rejects("fasta", b">a\nACGT\n>b\n>c\nAC\n") == "line 3: FASTA record has no sequence"
    assert rejects("fasta", b">a\nACGT\n>b\n") == "line 3: FASTA record has no sequence"
    assert rejects("fasta", b">a\nAC GT 12\n") == "line 2: invalid characters in sequence"


# --- seq ---


def test_seq_accepts_protein_fasta_plain_and_msa() -> None:
    validate("seq", fasta(("query", PROTEIN)))
    validate("seq", PROTEIN.lower().encode())
    validate("seq", (PROTEIN[:25] + "\n" + PROTEIN[25:] + "\n").encode())
    msa = fasta(("q", PROTEIN), ("h1", "-" * 5 + PROTEIN[5:]), ("h2", PROTEIN[:-3] + "---"))
    validate("seq", msa)


def test_seq_rejects_nucleotide() -> None:
    nucleotide = fasta(("dna", "ACGTTGCAACGTAGCTAGCTAGGCTAACGTNNACGT"))
    assert rejects("seq", nucleotide) == "sequence is nucleotide, a protein sequence is expected"
    assert "nucleotide" in rejects("seq", b"acguacguacguacguacguacguacguacguacgu")


def test_seq_length_limits() -> None:
    assert "too short" in rejects("seq", fasta(("short", PROTEIN[:29])))
    validate("seq", fasta(("edge", PROTEIN[:30])))
    validate("seq", ("M" * 1500).encode())
    assert "too long" in rejects("seq", ("M" * 1501).encode())


def test_seq_rejects_short_or_ragged_msa() -> None:
    short = fasta(("q", PROTEIN[:20]), ("h", PROTEIN[:20]))
    assert "too short" in rejects("seq", short)
    ragged = fasta(("q", PROTEIN), ("h1", PROTEIN), ("h2", PROTEIN[:-1]))
    message = rejects("seq", ragged)
    assert message == f"sequence 3: length {len(PROTEIN) - 1} differs from the first sequence's 51"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"  \n",
        fasta(("q", PROTEIN + "JJ")),
        fasta(("q", PROTEIN + "*")),
        (PROTEIN + "123").encode(),
        b">q\n>r\n" + PROTEIN.encode(),
        PROTEIN.encode() + b"\n>second\n" + PROTEIN.encode(),
    ],
)
def test_seq_rejects_malformed(data: bytes) -> None:
    rejects("seq", data)


# --- pdb ---

PDB = b"""HEADER    TEST
ATOM      1  N   MET A   1      11.104  13.207   2.100  1.00  0.00           N
ATOM      2  CA  MET A   1      12.560  13.207   2.100  1.00  0.00           C
END
"""


@pytest.mark.parametrize("name", ["pdb", "pdb_file"])
def test_pdb(name: str) -> None:
    validate(name, PDB)
    assert "no ATOM records" in rejects(name, b"HEADER    TEST\nHETATM    1  O   HOH\n")
    rejects(name, b"")
    rejects(name, b"ATOM without a serial number\n")


# --- images ---


def images() -> dict[str, bytes]:
    return {"png": png_bytes(), "jpeg": JPEG, "gif": GIF}


def test_images_accept_their_own_type() -> None:
    for name, data in images().items():
        validate(name, data)
    validate("gif", b"GIF87a" + b"\x00" * 10)


@pytest.mark.parametrize("name, kind", [("png", "PNG"), ("jpeg", "JPEG"), ("gif", "GIF")])
def test_images_reject_other_data(name: str, kind: str) -> None:
    others = [data for other, data in images().items() if other != name]
    for data in (b"just a text file\n", b"", NOT_UTF8, b"\x89PN", *others):
        assert rejects(name, data) == f"not a {kind} image"


# --- failures never escape as other exceptions ---


def test_crashing_builtin_becomes_validation_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(data: bytes) -> None:
        raise RuntimeError("internal detail")

    monkeypatch.setitem(validators.BUILTIN, "text", boom)
    message = rejects("text", b"x")
    assert message == "input could not be validated as text"


def test_unknown_name_is_a_validation_failure() -> None:
    assert "unknown validator" in rejects("no_such_validator", b"x")


# --- custom module:function validators ---


@pytest.mark.parametrize("func", ["accept_everything", "accept_silently", "Holder.check"])
def test_custom_validator_passes(func: str) -> None:
    validate(f"{HERE}:{func}", b"ok data")


@pytest.mark.parametrize("func", ["reject_everything", "numpy_false", "Holder.check"])
def test_custom_validator_returning_false_rejects(func: str) -> None:
    name = f"{HERE}:{func}"
    assert rejects(name, b"data") == f"input rejected by validator {name!r}"


def test_custom_validator_that_raises_becomes_validation_failed() -> None:
    message = rejects(f"{HERE}:explode", b"data")
    assert message.endswith(": header line is missing")
    assert "second line" not in message
    assert rejects(f"{HERE}:explode_without_message", b"x") == (
        f"input rejected by validator '{HERE}:explode_without_message'"
    )
    assert rejects(f"{HERE}:call_exit", b"x").endswith(": 3")


def test_custom_validation_failed_keeps_its_message() -> None:
    assert rejects(f"{HERE}:custom_failure", b"x") == "needs at least 3 lines"


def test_unknown_validators() -> None:
    good = ["none", "seq", "pdb_file", f"{HERE}:reject_everything", f"{HERE}:Holder.check"]
    assert unknown_validators(good) == []
    bad = ["not_a_builtin", "", ":check", f"{HERE}:", "a b:c"]
    assert unknown_validators(["text", *bad, "json"]) == bad


def test_unusable_references_are_found_in_a_child() -> None:
    from app.services.validator_sandbox import problems

    found = problems(["no_such_module_xyz:check", f"{HERE}:missing_function", f"{HERE}:NOT_CALLABLE",
                      f"{HERE}:Holder.check"], ["no_such_module_xyz", "tests"])
    assert set(found) == {"no_such_module_xyz:check", f"{HERE}:missing_function", f"{HERE}:NOT_CALLABLE"}
    assert "cannot import no_such_module_xyz" in found["no_such_module_xyz:check"]


# --- validate_all ---


def test_validate_all_runs_in_order_and_stops_at_first_rejection() -> None:
    validate_all([], b"\x00")
    validate_all(["text", "json"], b'{"a": 1}')
    assert rejects_all(["json", "png", "gif"], b'{"a": 1}') == "not a PNG image"
    assert rejects_all(["text", "json"], b"{").startswith("not valid JSON")
    assert rejects_all(["text", "json"], NOT_UTF8) == "not valid UTF-8 text"


def rejects_all(names: list[str], data: bytes) -> str:
    with pytest.raises(ValidationFailed) as info:
        validate_all(names, data)
    return info.value.message
