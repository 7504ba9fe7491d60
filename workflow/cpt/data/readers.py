"""Raw text sources read as datatrove documents, by strict readers.

A source (config data.sources.<name>) is a set of parquet or jsonl files under
`local_dir` matching `glob`. Text comes from one field, or from an adapter for
rows that are not plain text (Stack-v2 smol-ids: a repository and its files).
Readers are datatrove's, made strict: a wrong field, a corrupt file or bytes
that are not UTF-8 stop the job with the file, the row and the fix, instead of
being skipped with a warning and silently shrinking the mix.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (RecordBatch.cast loads it: here it is start-up, not reading)
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.readers import JsonlReader, ParquetReader

from cpt.data.listing import SourceError

log = logging.getLogger("cpt")


# --- adapters: a raw row -> datatrove's document dict -----------------------------

def _field_adapter(name: str, source: dict):
    field, id_field = source["text_field"], source["id_field"]

    def adapt(reader, data: dict, path: str, id_in_file: int) -> dict:
        if field not in data:
            raise SourceError(f"{reader.data_folder.path}/{path} row {id_in_file}: no field {field!r} "
                              f"(fields: {sorted(data)}); set data.sources.{name}.text_field")
        text = data[field]
        if isinstance(text, bytes):
            text = _decode(text, source["encoding_errors"], f"{path} row {id_in_file} field {field!r}", name)
        doc_id = data.get(id_field) if id_field else None
        return {"text": text or "", "id": str(doc_id) if doc_id is not None else f"{path}:{id_in_file}"}

    return adapt


def _stack_v2_repo_adapter(name: str, source: dict):
    """One document per repository: its files' contents joined, each headed by its path."""
    id_field = source["id_field"] or "repo_name"

    def adapt(reader, data: dict, path: str, id_in_file: int) -> dict:
        files = data.get("files")
        if files is None or any("content" not in f for f in files):
            raise SourceError(f"{reader.data_folder.path}/{path} row {id_in_file}: Stack-v2 rows need a 'files' "
                              f"list whose entries carry 'content' (fetched from Software Heritage); got fields "
                              f"{sorted(data)}; run the content fetch step or fix data.sources.{name}.adapter")
        text = "\n\n".join(f"# {f['path']}\n{f['content']}" for f in files if f["content"])
        return {"text": text, "id": str(data.get(id_field, f"{path}:{id_in_file}"))}

    return adapt


ADAPTERS = {"stack_v2_repo": _stack_v2_repo_adapter}
# the column an adapter reads, for the up-front parquet schema check
ADAPTER_FIELDS = {"stack_v2_repo": "files"}


def _decode(raw: bytes, errors: str, where: str, name: str) -> str | None:
    """The text of `raw`; None (the document is skipped, and the stage counts it) when it is not
    UTF-8 and the source says encoding_errors: skip."""
    try:
        return raw.decode("utf-8", errors="strict" if errors == "skip" else errors)
    except UnicodeDecodeError as err:
        if errors == "skip":
            log.warning("%s: bytes that are not UTF-8 (%s); document skipped", where, err)
            return None
        raise SourceError(f"{where}: bytes that are not UTF-8 ({err}); clean the file or set "
                          f"data.sources.{name}.encoding_errors: replace (or skip)") from err


# --- strict readers ------------------------------------------------------------------

class StrictJsonlReader(JsonlReader):
    """datatrove's JsonlReader, except that a bad line is an error, not a warning."""

    def __init__(self, *args, source_name: str, encoding_errors: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.source_name, self.encoding_errors = source_name, encoding_errors

    def read_file(self, filepath: str) -> Iterator[Document]:
        import orjson

        with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
            for line_number, raw in enumerate(f):
                where = f"{self.data_folder.path}/{filepath} line {line_number + 1}"
                text = _decode(raw, self.encoding_errors, where, self.source_name)
                if text is None or not text.strip():
                    continue
                try:
                    row = orjson.loads(text)
                except orjson.JSONDecodeError as err:
                    raise SourceError(f"{where}: not valid JSON ({err}); the file is corrupt or not jsonl "
                                      f"(check data.sources.{self.source_name}.format)") from err
                document = self.get_document_from_dict(row, filepath, line_number)
                if document:
                    yield document


class BytesParquetReader(ParquetReader):
    """datatrove's ParquetReader, except that the text column arrives as bytes, so one row that
    is not UTF-8 is decoded (or skipped) by the adapter instead of failing its whole batch."""

    def __init__(self, *args, bytes_field: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.bytes_field = bytes_field

    def read_file(self, filepath: str) -> Iterator[Document]:
        with self.data_folder.open(filepath, "rb") as f, pq.ParquetFile(f) as parquet:
            row = 0
            for batch in parquet.iter_batches(batch_size=self.batch_size):
                as_bytes = pa.schema([field.with_type(pa.binary()) if field.name == self.bytes_field and
                                      pa.types.is_string(field.type) else field for field in batch.schema])
                for data in batch.cast(as_bytes).to_pylist():
                    document = self.get_document_from_dict(data, filepath, row)
                    row += 1
                    if document:
                        yield document


def make_reader(name: str, source: dict):
    """The datatrove reader of a source (parquet or strict jsonl, with the source's adapter)."""
    adapter_name = source.get("adapter")
    adapter = ADAPTERS[adapter_name](name, source) if adapter_name else _field_adapter(name, source)
    if source["format"] == "jsonl":
        return StrictJsonlReader(source["local_dir"], adapter=adapter, source_name=name,
                                 encoding_errors=source["encoding_errors"])
    # read_metadata: the adapter picks its own columns (the id field is optional)
    return BytesParquetReader(source["local_dir"], adapter=adapter, read_metadata=True,
                              bytes_field=None if adapter_name else source["text_field"])


def check_parquet_schema(name: str, source: dict, path: Path) -> int:
    """Fail fast when a parquet file lacks the text column; returns its row count."""
    try:
        meta = pq.read_metadata(path)
    except Exception as err:  # pyarrow raises several types for a damaged footer
        raise SourceError(f"{path}: not a readable parquet file ({err}); re-download it or check "
                          f"data.sources.{name}.format") from err
    field = ADAPTER_FIELDS.get(source.get("adapter"), source["text_field"])
    columns = meta.schema.to_arrow_schema().names
    if field not in columns:
        key = "adapter" if source.get("adapter") else "text_field"
        raise SourceError(f"{path}: no column {field!r} (columns: {columns}); set data.sources.{name}.{key}")
    return meta.num_rows


def expected_documents(name: str, source: dict, files: list[str]) -> int | None:
    """Rows in the files, for an ETA; checks parquet schemas before anything is written.
    None for jsonl, whose row count would cost a full read."""
    if source["format"] != "parquet":
        return None
    return sum(check_parquet_schema(name, source, Path(source["local_dir"]) / f) for f in files)


def read_documents(name: str, source: dict, files: list[str]) -> Iterator[Document]:
    """Documents of `files` (relative to local_dir), in order; a failure names its file. The reader
    is built now, not at the first document: datatrove's dependency check (~0.5 s) is start-up."""
    return _documents(make_reader(name, source), name, source, files)


def _documents(reader, name: str, source: dict, files: list[str]) -> Iterator[Document]:
    for rel_path in files:
        try:
            yield from reader.read_file(rel_path)
        except SourceError:
            raise
        except Exception as err:
            path = Path(source["local_dir"]) / rel_path
            raise SourceError(f"{path}: cannot read it as {source['format']} ({type(err).__name__}: {err}); "
                              f"re-download the file or fix data.sources.{name}.format") from err
