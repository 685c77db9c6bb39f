"""The exports as files, CSV or Parquet, made as their rows are read (`projections.exports`)
and handed out in chunks of bytes: the CLI writes them to a file or standard output, the
HTTP API streams them. Memory stays the same however many rows: CSV is written row by row
and handed out every `batch_size` rows; Parquet one row group of `batch_size` rows at a
time, each handed out as the writer adds it (the footer comes with the last chunk).

Amounts are exact in both: CSV writes the decimal as stored (`format(amount, "f")`: no
exponent, no float), Parquet a `decimal128(38, 18)` column, the type every amount the
ledger accepts fits in (`ledger.domain.limits`). Times are UTC: ISO text ending in `Z` in
CSV, `timestamp[us, tz=UTC]` in Parquet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from ledger.application import Ledger
from projections.exports import ExportError, ExportQuery, Row, check_query, export_rows
from projections.queries import ViewReader

FORMATS = ("csv", "parquet")
BATCH_SIZE = 10_000  # rows a CSV chunk or a Parquet row group
AMOUNT = pa.decimal128(38, 18)
TIME = pa.timestamp("us", tz="UTC")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}

SCHEMAS = {
    "journal": pa.schema(
        [
            ("notification_id", pa.int64()),
            ("event", pa.string()),
            ("at", TIME),
            ("actor", pa.string()),
            ("account", pa.string()),
            ("counter_account", pa.string()),
            ("asset", pa.string()),
            ("amount", AMOUNT),
            ("book", pa.string()),
        ]
    ),
    "balances": pa.schema(
        [
            ("as_of", TIME),
            ("notification_id", pa.int64()),
            ("account", pa.string()),
            ("asset", pa.string()),
            ("book", pa.string()),
            ("amount", AMOUNT),
        ]
    ),
    "liquidations": pa.schema(
        [
            ("liquidation_id", pa.string()),
            ("account", pa.string()),
            ("kind", pa.string()),
            ("status", pa.string()),
            ("triggered_at", TIME),
            ("completed_at", TIME),
            ("figure", pa.string()),
            ("value", AMOUNT),
            ("text", pa.string()),
        ]
    ),
}


@dataclass
class Export:
    """A file being made: what to call it, its media type, and its bytes as they come."""

    filename: str
    media_type: str
    chunks: Iterator[bytes]


def open_export(
    app: Ledger,
    engine: Engine,
    kind: str,
    fmt: str,
    since: datetime | None = None,
    until: datetime | None = None,
    account: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> Export:
    """Checks the request at once (ExportError naming the argument at fault, before any
    byte), then returns the export whose chunks are made as they are read. The views
    should be brought up to date first; `app` and `engine` must stay open while the
    chunks are read."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: use {' or '.join(FORMATS)}", "format")
    if batch_size < 1:
        raise ExportError(f"batch size {batch_size}: at least 1 row", "batch_size")
    query = ExportQuery(kind, since, until, account)
    check_query(ViewReader(engine), query)
    rows = export_rows(app, engine, query)
    encode = csv_chunks if fmt == "csv" else parquet_chunks
    return Export(f"{kind}.{fmt}", MEDIA_TYPES[fmt], encode(rows, SCHEMAS[kind], batch_size))


# --- CSV --------------------------------------------------------------------------------


def csv_chunks(rows: Iterable[Row], schema: pa.Schema, batch_size: int = BATCH_SIZE) -> Iterator[bytes]:
    """A header line, then the rows; a chunk every `batch_size` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(schema.names)
    written = 0
    for row in rows:
        writer.writerow([csv_text(row[name]) for name in schema.names])
        written += 1
        if written % batch_size == 0:
            yield _taken(buffer)
    yield _taken(buffer)


def csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")  # the digits as stored, never an exponent
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _taken(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode()


# --- Parquet --------------------------------------------------------------------------------


class ChunkSink(io.RawIOBase):
    """Where the Parquet writer writes: the bytes it adds, kept until they are taken."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        taken = b"".join(self.parts)
        self.parts.clear()
        return taken


def parquet_chunks(rows: Iterable[Row], schema: pa.Schema, batch_size: int = BATCH_SIZE) -> Iterator[bytes]:
    """One row group a `batch_size` rows; each chunk what the writer added since the last."""
    sink = ChunkSink()
    writer = pq.ParquetWriter(sink, schema)
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == batch_size:
            _write_row_group(writer, batch, schema)
            batch.clear()
            yield sink.take()
    if batch:
        _write_row_group(writer, batch, schema)
    writer.close()
    yield sink.take()


def _write_row_group(writer: pq.ParquetWriter, rows: list[Row], schema: pa.Schema) -> None:
    try:
        table = pa.Table.from_pylist(rows, schema=schema)
    except pa.ArrowInvalid as error:
        # An amount with more than 18 places or 20 integer digits: refused, never rounded.
        raise ExportError(f"a row does not fit the export's columns exactly ({error})") from None
    writer.write_table(table, row_group_size=len(rows))
