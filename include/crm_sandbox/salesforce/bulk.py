"""Bulk API 2.0 ingest jobs: create, upload CSV, close, process, and CSV results."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crm_sandbox.salesforce.errors import RecordError, SfError, not_found
from crm_sandbox.salesforce.ids import normalize_id
from crm_sandbox.salesforce.schema import FieldDef, ObjectDef
from crm_sandbox.salesforce.store import Record, Store, UnknownField, index_key
from crm_sandbox.salesforce.values import ValueTypeError, coerce, format_datetime

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
TERMINAL = ("JobComplete", "Failed", "Aborted")
NULL_MARKER = "#N/A"
# (record key) -> whether fault injection fails this record
RecordFaults = Callable[[str], bool]


def _job_error(message: str, status: int = 400) -> SfError:
    return SfError(status, "INVALIDJOB", message)


@dataclass
class IngestJob:
    id: str
    operation: str
    object: str
    external_id_field: str | None
    column_delimiter: str
    line_ending: str
    api_version: str
    created_by: str
    created_date: str
    system_modstamp: str
    state: str = "Open"
    uploads: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)  # sf__Id, sf__Created, columns
    failed: list[list[str]] = field(default_factory=list)  # sf__Id, sf__Error, columns
    unprocessed: list[list[str]] = field(default_factory=list)  # columns
    processed: int = 0
    failed_count: int = 0
    error_message: str | None = None
    processing_ms: int = 0
    ready_at: float = 0.0  # monotonic time at which a finished job reports its final state

    def visible_state(self) -> str:
        if self.state in ("JobComplete", "Failed") and time.monotonic() < self.ready_at:
            return "InProgress"
        return self.state

    def info(self, *, created: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.system_modstamp,
            "state": self.visible_state(),
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
        }
        if self.external_id_field:
            data["externalIdFieldName"] = self.external_id_field
        if created:
            data["contentUrl"] = f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"
            data["lineEnding"] = self.line_ending
            data["columnDelimiter"] = self.column_delimiter
            return data
        data.update(
            jobType="V2Ingest",
            lineEnding=self.line_ending,
            columnDelimiter=self.column_delimiter,
        )
        if self.visible_state() in TERMINAL:
            data.update(
                numberRecordsProcessed=self.processed,
                numberRecordsFailed=self.failed_count,
                retries=0,
                totalProcessingTime=self.processing_ms,
                apiActiveProcessingTime=self.processing_ms,
                apexProcessingTime=0,
            )
        else:
            data.update(
                numberRecordsProcessed=0,
                numberRecordsFailed=0,
                retries=0,
                totalProcessingTime=0,
                apiActiveProcessingTime=0,
                apexProcessingTime=0,
            )
        if self.error_message:
            data["errorMessage"] = self.error_message
        return data

    def to_state(self) -> dict[str, Any]:
        return dict(self.__dict__, ready_at=0.0)

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> IngestJob:
        return cls(**data)


class BulkIngest:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.jobs: dict[str, IngestJob] = {}

    # --- job lifecycle --------------------------------------------------------------------

    def create(self, body: Any, version: str) -> IngestJob:
        if not isinstance(body, dict):
            raise _job_error("The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise _job_error(
                f"InvalidJob : operation must be one of {', '.join(OPERATIONS)}, got {operation!r}"
            )
        obj = self.store.find_object(str(body.get("object") or ""))
        if obj is None:
            raise _job_error(f"InvalidJob : Unable to find object: {body.get('object')}")
        content_type = body.get("contentType", "CSV")
        if content_type != "CSV":
            raise _job_error(f"InvalidJob : contentType must be CSV, got {content_type!r}")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS:
            raise _job_error(f"InvalidJob : unknown columnDelimiter {delimiter!r}")
        if line_ending not in LINE_ENDINGS:
            raise _job_error(f"InvalidJob : unknown lineEnding {line_ending!r}")
        ext_name = body.get("externalIdFieldName")
        if operation == "upsert":
            if not ext_name:
                raise _job_error("InvalidJob : externalIdFieldName is required for upsert")
            ext = self.store.external_id_field(obj, str(ext_name))
            if ext is None:
                raise _job_error(
                    f"InvalidJob : Field name provided, {ext_name} is not an External ID or "
                    f"indexed field for {obj.name}"
                )
            ext_name = ext.name
        else:
            ext_name = None
        now = format_datetime(self.store.clock.now())
        job = IngestJob(
            id=self.store.new_id("BulkJob"),
            operation=operation,
            object=obj.name,
            external_id_field=ext_name,
            column_delimiter=delimiter,
            line_ending=line_ending,
            api_version=version,
            created_by=self.store.api_user_id,
            created_date=now,
            system_modstamp=now,
        )
        self.jobs[job.id] = job
        return job

    def get(self, job_id: str) -> IngestJob:
        job = self.jobs.get(normalize_id(job_id) or "")
        if job is None:
            raise not_found("Job not found")
        return job

    def upload(self, job_id: str, data: bytes) -> None:
        job = self.get(job_id)
        if job.state != "Open":
            raise SfError(409, "INVALIDJOBSTATE", f"Job is not open for uploads: {job.state}")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SfError(400, "INVALIDBATCH", f"The CSV data is not UTF-8: {exc}") from exc
        if not text.strip():
            raise SfError(400, "INVALIDBATCH", "The CSV data is empty")
        job.uploads.append(text)

    def set_state(
        self, job_id: str, body: Any, faults: RecordFaults, delay: float
    ) -> dict[str, Any]:
        """Close (UploadComplete: processed at once) or abort a job; the job info as answer."""
        job = self.get(job_id)
        state = body.get("state") if isinstance(body, dict) else None
        if state == "Aborted":
            if job.state in TERMINAL:
                raise SfError(409, "INVALIDJOBSTATE", f"Job is already {job.state}")
            job.state = "Aborted"
            job.system_modstamp = format_datetime(self.store.clock.now())
            return job.info()
        if state != "UploadComplete":
            raise _job_error("InvalidJob : state must be UploadComplete or Aborted")
        if job.state != "Open":
            raise SfError(409, "INVALIDJOBSTATE", f"Job is not open: {job.state}")
        job.state = "UploadComplete"
        answer = job.info()
        self._process(job, faults)
        job.ready_at = time.monotonic() + max(0.0, delay)
        job.system_modstamp = format_datetime(self.store.clock.now())
        return answer

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        if job.state in ("Open", "InProgress"):
            raise SfError(409, "INVALIDJOBSTATE", f"Cannot delete a job in state {job.state}")
        del self.jobs[job.id]

    # --- processing -----------------------------------------------------------------------

    def _parse(self, job: IngestJob) -> tuple[list[str], list[list[str]]]:
        header: list[str] | None = None
        rows: list[list[str]] = []
        for text in job.uploads:
            reader = csv.reader(io.StringIO(text), delimiter=DELIMITERS[job.column_delimiter])
            lines = [line for line in reader if line]
            if not lines:
                continue
            if header is None:
                header = lines[0]
            elif lines[0] != header:
                raise SfError(400, "INVALIDBATCH", "every upload must have the same header")
            rows.extend(lines[1:])
        if header is None:
            raise SfError(400, "INVALIDBATCH", "no data was uploaded")
        return header, rows

    def _columns(self, obj: ObjectDef, header: list[str]) -> list[tuple[str, str | None]]:
        """For each column: (field or relationship name, external id field for references)."""
        out: list[tuple[str, str | None]] = []
        for column in header:
            name, _, ref_field = column.strip().partition(".")
            if ref_field:
                rel = obj.relationship(name)
                if rel is None:
                    raise UnknownField(obj, column)
                out.append((rel.relationship_name or name, ref_field))
                continue
            fdef = obj.field(name)
            if fdef is None:
                raise UnknownField(obj, column)
            out.append((fdef.name, None))
        return out

    def _process(self, job: IngestJob, faults: RecordFaults) -> None:
        started = time.perf_counter()
        job.state = "InProgress"
        obj = self.store.object(job.object)
        try:
            header, rows = self._parse(job)
            job.columns = header
            columns = self._columns(obj, header)
        except UnknownField as exc:
            job.state = "Failed"
            job.error_message = f"InvalidBatch : Field name not found : {exc.field_name}"
            return
        except SfError as exc:
            job.state = "Failed"
            job.error_message = f"InvalidBatch : {exc.message}"
            return
        if job.operation in ("delete", "hardDelete") and [c for c, _ in columns] != ["Id"]:
            job.state = "Failed"
            job.error_message = "InvalidBatch : The 'delete' batch must contain only 'Id'"
            return
        duplicates = self._duplicate_keys(obj, job, columns, rows)
        for row in rows:
            padded = row + [""] * (len(header) - len(row))
            try:
                if len(row) > len(header):
                    raise RecordError(
                        "INVALID_FIELD", "the row has more values than the header has columns"
                    )
                rid, created = self._apply(obj, job, columns, padded, duplicates, faults)
            except RecordError as exc:
                job.failed.append(["", exc.as_bulk_error(), *padded])
                job.failed_count += 1
            except ValueTypeError as exc:
                job.failed.append(["", exc.record_error().as_bulk_error(), *padded])
                job.failed_count += 1
            else:
                job.successful.append([rid, "true" if created else "false", *padded])
            job.processed += 1
        job.state = "JobComplete"
        job.processing_ms = int((time.perf_counter() - started) * 1000)

    def _duplicate_keys(
        self,
        obj: ObjectDef,
        job: IngestJob,
        columns: list[tuple[str, str | None]],
        rows: list[list[str]],
    ) -> set[Any]:
        if job.operation != "upsert" or job.external_id_field is None:
            return set()
        names = [name for name, _ in columns]
        if job.external_id_field not in names:
            return set()
        i = names.index(job.external_id_field)
        fdef = obj.fields[job.external_id_field]
        seen: dict[Any, int] = {}
        for row in rows:
            if i < len(row) and row[i] not in ("", NULL_MARKER):
                key = index_key(row[i].strip(), fdef.case_sensitive)
                seen[key] = seen.get(key, 0) + 1
        return {key for key, n in seen.items() if n > 1}

    def _values(
        self, obj: ObjectDef, columns: list[tuple[str, str | None]], row: list[str], insert: bool
    ) -> Record:
        raw: dict[str, Any] = {}
        for (name, ref_field), cell in zip(columns, row, strict=False):
            if cell == "":
                continue  # empty cells leave the field unchanged (or unset on insert)
            if cell == NULL_MARKER:
                if ref_field is None:
                    raw[name] = None
                continue
            raw[name] = {ref_field: cell} if ref_field else cell
        if insert:
            raw = {k: v for k, v in raw.items() if v is not None}
        return self.store.convert(obj, raw, csv=True)

    def _apply(
        self,
        obj: ObjectDef,
        job: IngestJob,
        columns: list[tuple[str, str | None]],
        row: list[str],
        duplicates: set[Any],
        faults: RecordFaults,
    ) -> tuple[str, bool]:
        names = [name for name, _ in columns]
        cell = {name: row[i] for i, name in enumerate(names)}
        op = job.operation
        if op in ("delete", "hardDelete"):
            rid = cell.get("Id", "")
            if not rid:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in a delete call", ["Id"])
            return self.store.delete(obj.name, rid), False
        values = self._values(obj, columns, row, insert=op == "insert")

        def fault_for(key: str) -> Callable[[], RecordError | None]:
            def check() -> RecordError | None:
                return injected_failure() if faults(key) else None

            return check

        if op == "insert":
            values.pop("Id", None)
            key = f"{obj.name}:insert:{sorted((k, str(v)) for k, v in values.items())}"
            return self.store.create(obj.name, values, fault=fault_for(key)), True
        if op == "update":
            rid = cell.get("Id", "")
            if not rid:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            values.pop("Id", None)
            key = f"{obj.name}:{normalize_id(rid) or rid}"
            return self.store.update(obj.name, rid, values, fault=fault_for(key)), False
        assert job.external_id_field is not None
        ext: FieldDef = obj.fields[job.external_id_field]
        ext_value = cell.get(ext.name, "")
        if ext_value and index_key(ext_value.strip(), ext.case_sensitive) in duplicates:
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID",
                f"Duplicate external id specified: {ext_value}",
                [ext.name],
            )
        values.pop(ext.name, None)
        key = f"{obj.name}:{ext.name}:{str(ext_value).lower()}"
        return self.store.upsert(
            obj.name,
            ext,
            coerce(ext, ext_value, csv=True) if ext_value else None,
            values,
            fault=fault_for(key),
        )

    # --- results --------------------------------------------------------------------------

    def results_csv(self, job_id: str, kind: str) -> str:
        job = self.get(job_id)
        state = job.visible_state()
        if state not in TERMINAL:
            raise SfError(
                400, "INVALIDJOBSTATE", f"Results are not available while the job is {state}"
            )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=LINE_ENDINGS[job.line_ending])
        kind = kind.lower()
        if kind == "successfulresults":
            writer.writerow(["sf__Id", "sf__Created", *job.columns])
            writer.writerows(job.successful)
        elif kind == "failedresults":
            writer.writerow(["sf__Id", "sf__Error", *job.columns])
            writer.writerows(job.failed)
        else:
            delimiter = DELIMITERS[job.column_delimiter]
            lines = [
                line
                for text in job.uploads
                for line in csv.reader(io.StringIO(text), delimiter=delimiter)
                if line
            ]
            header = job.columns or (lines[0] if lines else [])
            writer.writerow(header)
            if job.state in ("Aborted", "Failed"):
                writer.writerows(line for line in lines if line != header)
        return buffer.getvalue()

    # --- state ----------------------------------------------------------------------------

    def dump(self) -> list[dict[str, Any]]:
        return [job.to_state() for job in self.jobs.values()]

    def load(self, data: Any) -> None:
        self.jobs = {}
        for item in data or []:
            job = IngestJob.from_state(item)
            self.jobs[job.id] = job


def injected_failure() -> RecordError:
    return RecordError(
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Injected validation failure (sandbox fault injection)",
        [],
    )
