"""Validators that check an uploaded input before it is stored: built-ins and `module:function`."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterable

from app.errors import ValidationFailed
from app.services import validator_sandbox

log = logging.getLogger(__name__)

Checker = Callable[[bytes], None]

SEQ_MIN, SEQ_MAX = 30, 1500
NUCLEOTIDE_SHARE = 0.95
_PROTEIN = frozenset("ACDEFGHIKLMNPQRSTVWYX-")
_NUCLEOTIDE = frozenset("ACGTUN")
_FASTA_LINE = re.compile(r"[A-Za-z*-]+")
_PDB_ATOM = re.compile(r"^ATOM\s+\d+", re.MULTILINE)
CSV_DELIMITERS = ",;\t|"


def _text(data: bytes, what: str = "text") -> str:
    try:
        # utf-8-sig: files saved by Windows tools often start with a BOM
        return bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(f"not valid UTF-8 {what}") from None


def _none(data: bytes) -> None:
    return None


def _plain_text(data: bytes) -> None:
    if "\x00" in _text(data):
        raise ValidationFailed("not a text file: contains NUL bytes")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in JSON")


def _json(data: bytes) -> None:
    text = _text(data, "JSON")
    if not text.strip():
        raise ValidationFailed("empty JSON file")
    try:
        json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise ValidationFailed(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise ValidationFailed("not valid JSON: nested too deeply") from None


def _bad_cell(cells: list[str]) -> tuple[int, str] | None:
    """The first cell (1-based column, stripped text) that is not a number, if any."""
    for column, cell in enumerate(cells, 1):
        try:
            float(cell)
        except ValueError:
            return column, cell.strip()
    return None


def _csv(data: bytes) -> None:
    """A well-formed table: a sniffed delimiter, every row as wide as the first, any cell text."""
    text = _text(data, "CSV")
    if "\x00" in text:
        raise ValidationFailed("not a CSV file: contains NUL bytes")
    if not text.strip():
        raise ValidationFailed("empty CSV file")
    delimiter = _delimiter(text)
    try:
        rows = [(n, row) for n, row in _numbered_rows(text, delimiter) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise ValidationFailed(f"not a well-formed CSV file: {exc}") from None
    width = len(rows[0][1])
    if len(rows) < 2:
        raise ValidationFailed("CSV file has a header but no data rows")
    for n, row in rows[1:]:
        if len(row) != width:
            shown = "tab" if delimiter == "\t" else repr(delimiter)
            raise ValidationFailed(f"line {n}: expected {width} columns separated by {shown}, found {len(row)}")


def _delimiter(text: str) -> str:
    """The delimiter of a CSV text (one of , ; tab |): sniffed from its first lines, else the one its
    first line holds most of (rows of unequal width defeat the sniffer), else ','."""
    lines = text.splitlines()
    try:
        return csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        first = next((line for line in lines if line.strip()), "")
        counts = {candidate: first.count(candidate) for candidate in CSV_DELIMITERS}
        best = max(counts, key=counts.__getitem__)
        return best if counts[best] else ","


def _numbered_rows(text: str, delimiter: str):
    """(line number, cells) for each record; quoted cells may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    line = 1
    for row in reader:
        yield line, row
        line = reader.line_num + 1


def _numeric_csv(data: bytes) -> None:
    rows = [(n, line) for n, line in enumerate(_text(data, "CSV").splitlines(), 1) if line.strip()]
    if not rows:
        raise ValidationFailed("empty CSV file")
    header = rows.pop(0) if _bad_cell(rows[0][1].split(",")) else None
    if not rows:
        raise ValidationFailed("CSV file has no data rows")
    width = (header or rows[0])[1].count(",") + 1
    for n, line in rows:
        if line.count(",") + 1 != width:
            raise ValidationFailed(
                f"line {n}: expected {width} columns, found {line.count(',') + 1}"
            )
    import numpy as np  # here: the API and the workers start (and run) without NumPy and its BLAS threads

    try:
        np.loadtxt(
            io.StringIO("\n".join(line for _, line in rows)), delimiter=",", ndmin=2, comments=None
        )
    except ValueError:
        # NumPy's message counts data rows, not file lines: find the cell again to name its line
        for n, line in rows:
            bad = _bad_cell(line.split(","))
            if bad:
                column, cell = bad
                what = f"{cell[:40]!r} is not a number" if cell else "empty cell"
                raise ValidationFailed(f"line {n}, column {column}: {what}") from None
        raise ValidationFailed("not a numeric CSV table") from None


def _records(text: str) -> list[tuple[int, str, list[str]]]:
    """Split FASTA text into (header line number, header, sequence lines)."""
    records: list[tuple[int, str, list[str]]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(">"):
            records.append((n, line[1:].strip(), []))
        elif not records:
            raise ValidationFailed(f"line {n}: expected a '>' header line")
        elif not _FASTA_LINE.fullmatch(line):
            raise ValidationFailed(f"line {n}: invalid characters in sequence")
        else:
            records[-1][2].append(line)
    return records


def _fasta(data: bytes) -> None:
    records = _records(_text(data, "FASTA"))
    if not records:
        raise ValidationFailed("empty FASTA file")
    for n, _, lines in records:
        if not lines:
            raise ValidationFailed(f"line {n}: FASTA record has no sequence")


def _seq(data: bytes) -> None:
    text = _text(data, "sequence")
    if text.lstrip().startswith(">"):
        records = _records(text)
        for n, _, lines in records:
            if not lines:
                raise ValidationFailed(f"line {n}: sequence record is empty")
        seqs = ["".join(lines).upper() for _, _, lines in records]
    else:
        if ">" in text:
            raise ValidationFailed("sequence data before the first '>' header line")
        seqs = ["".join(text.split()).upper()]
    if not seqs or not seqs[0]:
        raise ValidationFailed("no sequence found")
    letters = "".join(seqs).replace("-", "")
    if letters and sum(letters.count(c) for c in _NUCLEOTIDE) >= NUCLEOTIDE_SHARE * len(letters):
        raise ValidationFailed("sequence is nucleotide, a protein sequence is expected")
    for i, seq in enumerate(seqs, 1):
        bad = sorted(set(seq) - _PROTEIN)
        if bad:
            raise ValidationFailed(f"sequence {i}: invalid characters {''.join(bad[:10])!r}")
        if len(seq) != len(seqs[0]):
            raise ValidationFailed(
                f"sequence {i}: length {len(seq)} differs from the first sequence's {len(seqs[0])}"
            )
    residues = len(seqs[0].replace("-", ""))
    if residues < SEQ_MIN:
        raise ValidationFailed(
            f"sequence is too short: {residues} residues, at least {SEQ_MIN} expected"
        )
    if residues > SEQ_MAX:
        raise ValidationFailed(
            f"sequence is too long: {residues} residues, at most {SEQ_MAX} allowed"
        )


def _pdb(data: bytes) -> None:
    if not _PDB_ATOM.search(_text(data, "PDB file")):
        raise ValidationFailed("not a PDB file: no ATOM records")


def _magic(kind: str, *signatures: bytes) -> Checker:
    def check(data: bytes) -> None:
        if not bytes(data[:16]).startswith(signatures):
            raise ValidationFailed(f"not a {kind} image")

    return check


BUILTIN: dict[str, Checker] = {
    "none": _none,
    "text": _plain_text,
    "json": _json,
    "csv": _csv,
    "numeric_csv": _numeric_csv,
    "fasta": _fasta,
    "seq": _seq,
    "pdb": _pdb,
    "pdb_file": _pdb,
    "png": _magic("PNG", b"\x89PNG\r\n\x1a\n"),
    "jpeg": _magic("JPEG", b"\xff\xd8\xff"),
    "gif": _magic("GIF", b"GIF87a", b"GIF89a"),
}


def unknown_validators(names: Iterable[str]) -> list[str]:
    """Names that are neither built-in nor a `module:function` reference (whose module must also be
    declared and importable: `app.services.validator_sandbox` checks that, outside this process)."""
    return [name for name in names if name not in BUILTIN and not validator_sandbox.is_reference(name)]


def validate(name: str, data: bytes) -> None:
    """Run one validator; raise ValidationFailed with a user-facing message if it rejects the data
    (a `module:function` one runs in a sandboxed child: see app.services.validator_sandbox)."""
    builtin = BUILTIN.get(name)
    if builtin is None:
        if not validator_sandbox.is_reference(name):
            raise ValidationFailed(f"unknown validator {name!r}")
        validator_sandbox.validate(name, data)
        return
    try:
        builtin(data)
    except ValidationFailed:
        raise
    except Exception:
        log.exception("built-in validator %r failed", name)
        raise ValidationFailed(f"input could not be validated as {name}") from None


def validate_all(names: Iterable[str], data: bytes) -> None:
    """Run every named validator in order; the first rejection raises ValidationFailed."""
    for name in names:
        validate(name, data)
