"""The CRM field mapping (include/config/crm_mapping.yaml), validated on load."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_yaml_model
from handoff.config.model import PROBLEM_SEP, Strict
from handoff.crm.base import FieldSpec, FieldType

Crm = Literal["hubspot", "salesforce"]


class MappedField(Strict):
    source: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    type: FieldType
    hubspot: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    salesforce: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$")
    options: list[str] = []
    unique: bool = False
    write: bool = True
    length: int | None = Field(default=None, ge=1, le=131072)


class Group(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str


class CrmMapping(Strict):
    version: str
    group: Group
    objects: dict[Crm, str]
    fields: list[MappedField]

    @model_validator(mode="after")
    def _consistent(self) -> CrmMapping:
        problems = []
        keys = [f for f in self.fields if f.unique]
        if len(keys) != 1:
            problems.append(f"fields: exactly one field must be unique (the key); got {len(keys)}")
        for crm in ("hubspot", "salesforce"):
            names = [getattr(f, crm) for f in self.fields]
            for dup in sorted({n for n in names if names.count(n) > 1}):
                problems.append(f"fields: {crm} name '{dup}' is used twice")
        for i, f in enumerate(self.fields):
            if f.type == "enumeration" and not f.options:
                problems.append(f"fields[{i}].options: an enumeration needs options")
        if problems:
            raise ValueError(PROBLEM_SEP.join(problems))
        return self

    @property
    def key(self) -> MappedField:
        return next(f for f in self.fields if f.unique)

    def written(self) -> list[MappedField]:
        return [f for f in self.fields if f.write]

    def specs(self, crm: Crm) -> list[FieldSpec]:
        return [
            FieldSpec(
                name=getattr(f, crm),
                label=f.label,
                type=f.type,
                options=tuple(f.options),
                unique=f.unique,
                length=f.length,
            )
            for f in self.fields
        ]


def load_mapping(path: str | Path | None = None) -> CrmMapping:
    return load_yaml_model(path or DEFAULT_CONFIG_DIR / "crm_mapping.yaml", CrmMapping)
