"""Read a YAML file into a pydantic model, turning every failure into a ConfigError."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from handoff.errors import ConfigError

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"

M = TypeVar("M", bound=BaseModel)


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_yaml_model(path: str | Path, model: type[M]) -> M:
    """Parse `path` as YAML and validate it as `model`.

    Raises ConfigError naming the file, the key (e.g. `signals[3].when.feature`) and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [("", f"cannot read file: {exc.strerror or exc}")]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [(where, f"not valid YAML: {problem}")]) from exc
    if not isinstance(data, dict):
        raise ConfigError(str(path), [("", "expected a mapping at the top level")])
    try:
        return model.model_validate(data, context={"path": str(path)})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key, msg = _key_path(err["loc"]), _message(err)
            for line in msg.split("\n"):
                # model-level checks report "key: problem" lines of their own
                sub_key, sep, sub_msg = line.partition(": ")
                if sep and not key and " " not in sub_key:
                    problems.append((sub_key, sub_msg))
                else:
                    problems.append((key, line))
        raise ConfigError(str(path), problems) from None


def _message(err: dict) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key is missing"
    msg = err["msg"]
    return msg.removeprefix("Value error, ")


def load_model(name_or_path: str | Path | None = None):  # -> ScoringModel
    """Load a scoring model by file path, or by name from include/config/models/."""
    from handoff.config.model import ScoringModel

    if name_or_path is None:
        name_or_path = "pql_default"
    path = Path(name_or_path)
    if not path.suffix:
        path = DEFAULT_CONFIG_DIR / "models" / f"{name_or_path}.yaml"
    return load_yaml_model(path, ScoringModel)
