"""The CRM field mapping (include/config/crm_mapping.yaml), validated on load.

Two synced objects: `account` (HubSpot companies / Salesforce Account) and `user` (HubSpot
contacts / Salesforce Lead), each with its fields, plus the task key field that makes one
rep task per trigger episode. A field is provisioned unless it is one of the CRM's own
(`standard`), and written unless `write: false` (rep-facing fields Handoff only reads). A
field with `diff: false` (e.g. the scoring time) is written whenever its record is sent but
does not by itself make the record change; `round` keeps a number's noise out of the CRM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_yaml_model
from handoff.config.model import PROBLEM_SEP, Strict
from handoff.crm.base import FieldSpec, FieldType

Crm = Literal["hubspot", "salesforce"]
CRMS: tuple[Crm, ...] = ("hubspot", "salesforce")
ObjectKind = Literal["account", "user"]


class MappedField(Strict):
    source: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    type: FieldType
    hubspot: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    salesforce: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    standard: list[Crm] = []  # the CRM's own field there: written, never provisioned
    options: list[str] = []
    unique: bool = False
    write: bool = True
    diff: bool = True  # false: written with other changes, but a change in it alone sends nothing
    round: int | None = Field(default=None, ge=0, le=6)  # number fields: decimals kept
    length: int | None = Field(default=None, ge=1, le=131072)

    def name(self, crm: Crm) -> str | None:
        return getattr(self, crm)


class ObjectMapping(Strict):
    hubspot: str
    salesforce: str
    statuses: list[str] | None = None  # user object: the PQL statuses pushed (None: all)
    fields: list[MappedField]

    def object(self, crm: Crm) -> str:
        return getattr(self, crm)

    def key(self, crm: Crm) -> MappedField:
        return next(f for f in self.fields if f.unique and f.name(crm))

    def written(self, crm: Crm) -> list[MappedField]:
        return [f for f in self.fields if f.write and f.name(crm)]

    def specs(self, crm: Crm) -> list[FieldSpec]:
        """The fields to provision in `crm` (the CRM's standard fields excluded)."""
        return [
            FieldSpec(
                name=name,
                label=f.label,
                type=f.type,
                options=tuple(f.options),
                unique=f.unique,
                length=f.length,
            )
            for f in self.fields
            if (name := f.name(crm)) and crm not in f.standard
        ]


class TaskKey(Strict):
    hubspot: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    salesforce: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$")


class Group(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str


class CrmMapping(Strict):
    version: str
    group: Group
    task_key: TaskKey
    objects: dict[ObjectKind, ObjectMapping]

    @model_validator(mode="after")
    def _consistent(self) -> CrmMapping:
        problems = []
        if "account" not in self.objects:
            problems.append("objects: an `account` object is required")
        for kind, om in self.objects.items():
            where = f"objects.{kind}.fields"
            for crm in CRMS:
                keys = [f for f in om.fields if f.unique and f.name(crm)]
                if len(keys) != 1:
                    problems.append(
                        f"{where}: exactly one unique field (the upsert key) needs a {crm} "
                        f"name; got {len(keys)}"
                    )
                names = [f.name(crm) for f in om.fields if f.name(crm)]
                for dup in sorted({n for n in names if names.count(n) > 1}):
                    problems.append(f"{where}: {crm} name '{dup}' is used twice")
            for i, f in enumerate(om.fields):
                if f.type == "enumeration" and not f.options:
                    problems.append(f"{where}[{i}].options: an enumeration needs options")
                if f.round is not None and f.type != "number":
                    problems.append(f"{where}[{i}].round: only number fields can be rounded")
                if not f.hubspot and not f.salesforce:
                    problems.append(f"{where}[{i}]: name the field in hubspot, salesforce or both")
                sf = f.salesforce
                if sf and "salesforce" not in f.standard and not sf.endswith("__c"):
                    problems.append(
                        f"{where}[{i}].salesforce: custom field '{sf}' must end in __c "
                        "(or list salesforce under `standard` for a standard field)"
                    )
        if problems:
            raise ValueError(PROBLEM_SEP.join(problems))
        return self

    @property
    def account(self) -> ObjectMapping:
        return self.objects["account"]


def load_mapping(path: str | Path | None = None) -> CrmMapping:
    return load_yaml_model(path or DEFAULT_CONFIG_DIR / "crm_mapping.yaml", CrmMapping)
