"""The one panel loader every entry point uses: CSV or Parquet in, validated DataFrame out.

The file is only read, never written. Any problem ends in one `PanelError` whose message
names the broken rule (see `data.contract`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.contract import PanelError, ValidationReport, check_panel, file_error

PARQUET_MAGIC = b"PAR1"
_SNIFF_BYTES = 8192


def _sniff_format(path: Path) -> str:
    """'parquet' or 'csv' from the file's bytes (not its name), or a PanelError."""
    source = str(path)
    if not path.exists():
        raise file_error(source, "the file does not exist")
    if not path.is_file():
        raise file_error(source, "the path is not a regular file")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head:
        raise file_error(source, "the file is empty")
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if b"\x00" in head:
        raise file_error(source, "the file is neither CSV nor Parquet (binary content)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut at the sniff boundary is fine
            raise file_error(source, "the file is neither CSV nor Parquet (not UTF-8 text)") from None
    return "csv"


def _read_csv(path: Path) -> pd.DataFrame:
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                          skipinitialspace=True, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise file_error(str(path), f"the file is not readable as CSV ({str(exc).strip()})") from None
    if len(header) == len(raw.columns):  # pandas renames repeated headers ('dau.1'): keep them as written
        raw.columns = [c.strip() for c in header]
    raw.index = pd.RangeIndex(2, len(raw) + 2)  # file line numbers: the header is line 1
    return raw


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
        raw = table.to_pandas()
    except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
        raise file_error(str(path), f"the file is not readable as Parquet ({str(exc).strip()})") from None
    raw.columns = [str(c) for c in raw.columns]
    raw.index = pd.RangeIndex(1, len(raw) + 1)  # 1-based data rows
    return raw


def read_raw_panel(path: str | Path) -> tuple[pd.DataFrame, str]:
    """The file's table as stored, indexed by the row numbers messages quote, and that word."""
    path = Path(path)
    if _sniff_format(path) == "parquet":
        return _read_parquet(path), "row"
    return _read_csv(path), "line"


def inspect_panel(path: str | Path) -> tuple[pd.DataFrame | None, ValidationReport]:
    """Validate a panel file; return the normalised panel (None if invalid) and every rule's result."""
    try:
        raw, row_word = read_raw_panel(path)
    except PanelError as error:
        return None, ValidationReport(source=str(path), results=[error.result])
    return check_panel(raw, source=str(path), row_word=row_word)


def load_panel(path: str | Path) -> pd.DataFrame:
    """Read and validate a panel file (CSV or Parquet). Raises `PanelError` naming the broken rule.

    The result has `week` as datetime64, `app`/`market` as text, the measures as float64,
    extra columns kept, and rows sorted by app, market, week.
    """
    panel, report = inspect_panel(path)
    report.raise_for_failure()
    return panel
