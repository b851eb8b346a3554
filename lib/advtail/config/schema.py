"""The JSON schema and its per-variant annotations (``x-variants``, ``x-required-for``,
``x-default-for``): errors as one line naming the key, defaults, variant keys."""

from __future__ import annotations

import copy
import difflib
import re

import jsonschema

from advtail.errors import ConfigError


def variant_tables(object_schema: dict, discriminator: str = "name") -> dict:
    """Per variant of ``object_schema`` (the values of its ``discriminator`` key): the keys
    it reads (``allowed``), those it needs (``required``) and its defaults."""
    properties = object_schema["properties"]
    variants = properties[discriminator]["enum"]
    common = {key for key, sub in properties.items() if "x-variants" not in sub}
    return {
        variant: {
            "allowed": common
            | {k for k, sub in properties.items() if variant in sub.get("x-variants", ())},
            "required": {
                k for k, sub in properties.items() if variant in sub.get("x-required-for", ())
            },
            "defaults": {
                k: sub["x-default-for"][variant]
                for k, sub in properties.items()
                if variant in sub.get("x-default-for", {})
            },
        }
        for variant in variants
    }


def schema_variants(schema: dict) -> dict:
    """The variant tables of every config section that has variants."""
    defs = schema["$defs"]
    parts = defs["classifier"]["properties"]
    return {
        "dataset": variant_tables(defs["dataset"], "source"),
        "subset": variant_tables(defs["subset"], "profile"),
        **{
            part: variant_tables(parts[part])
            for part in ("arch", "loss", "reweighting", "optimizer")
        },
        "adversarial": variant_tables(parts["adversarial"], "attack"),
        "robust": variant_tables(defs["gan"]["properties"]["robust"], "attack"),
        "class_loss": variant_tables(defs["gan"]["properties"]["class_loss"]),
    }


# Which key of a profile names another subset.
PROFILE_LINK = {"balanced_small": "reference", "labelled_fraction": "base"}


def _dotted(parts) -> str:
    return ".".join(str(p) for p in parts) or "<config>"


def _type_name(schema_type) -> str:
    names = {
        "integer": "an integer",
        "number": "a number",
        "string": "a string",
        "boolean": "true or false",
        "object": "a mapping",
        "array": "a list",
    }
    if isinstance(schema_type, list):
        return " or ".join(names.get(t, t) for t in schema_type)
    return names.get(schema_type, schema_type)


def _error_to_config_error(error: jsonschema.ValidationError) -> ConfigError:
    path = list(error.absolute_path)
    key = _dotted(path)
    schema, value = error.schema, error.instance
    kind = error.validator
    if kind == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extra = sorted(
            k for k in set(value) - set(known) if not any(re.search(p, k) for p in patterns)
        )
        bad = extra[0]
        close = difflib.get_close_matches(bad, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return ConfigError(
            _dotted(path + [bad]), f"unknown key; {hint}expected one of {known}", has_value=False
        )
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value][0]
        return ConfigError(_dotted(path + [missing]), "missing, and required", has_value=False)
    if "propertyNames" in error.absolute_schema_path:
        return ConfigError(
            _dotted(path + [value]),
            "invalid name; expected a letter, then letters, digits, '_' or '-'",
            has_value=False,
        )
    integer = schema.get("type") == "integer"
    noun = "an integer" if integer else "a number"
    expected = {
        "type": lambda: f"expected {_type_name(error.validator_value)}",
        "enum": lambda: f"expected one of {error.validator_value}",
        "const": lambda: f"expected {error.validator_value!r}",
        "minimum": lambda: f"expected {noun} >= {error.validator_value}",
        "maximum": lambda: f"expected {noun} <= {error.validator_value}",
        "exclusiveMinimum": lambda: f"expected {noun} > {error.validator_value}",
        "exclusiveMaximum": lambda: f"expected {noun} < {error.validator_value}",
        "minProperties": lambda: f"expected at least {error.validator_value} entry",
        "minItems": lambda: f"expected at least {error.validator_value} items",
        "minLength": lambda: "expected a non-empty string",
        "uniqueItems": lambda: "expected no repeated items",
        "pattern": lambda: f"expected a string matching {error.validator_value}",
        "anyOf": lambda: "expected another form",
    }.get(kind, lambda: f"invalid ({error.message})")()
    if "description" in schema:
        expected += f" ({schema['description']})"
    return ConfigError(key, expected, value)


def _fill_defaults(instance, schema: dict, root: dict) -> None:
    """Fill ``default`` values of the schema into ``instance`` (objects only)."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].split("/")[-1]]
    if not isinstance(instance, dict) or schema.get("type") != "object":
        return
    for key, sub in schema.get("properties", {}).items():
        if "$ref" in sub and "default" not in sub:
            sub = root["$defs"][sub["$ref"].split("/")[-1]]
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in schema.get("properties", {}):
                _fill_defaults(value, extra, root)


def _check_keys(cfg: dict, key: str, allowed: set, required: set, what: str) -> None:
    for name in sorted(cfg):
        if name not in allowed:
            raise ConfigError(
                f"{key}.{name}", f"not used by {what}; it reads {sorted(allowed)}", cfg[name]
            )
    for name in sorted(required - set(cfg)):
        raise ConfigError(f"{key}.{name}", f"missing, and required by {what}", has_value=False)


def _check_variant(cfg: dict, key: str, tables: dict, discriminator: str, what: str) -> None:
    variant = tables[cfg[discriminator]]
    _check_keys(cfg, key, variant["allowed"], variant["required"], f"{what} '{cfg[discriminator]}'")


def _require_defined(key: str, name: str, section: dict, section_name: str) -> None:
    """``name`` (the value at ``key``) must be an entry of the config's ``section_name``."""
    if name not in section:
        raise ConfigError(
            key,
            f"expected a {section_name[:-1]} defined under '{section_name}' ({sorted(section)})",
            name,
        )
