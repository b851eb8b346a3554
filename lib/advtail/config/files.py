"""Reading config files: YAML with every key once, plain values, finite numbers; the schema
file; ``canonical`` rule params."""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from advtail.errors import ConfigError, ConfigFileError


class DuplicateKeyError(yaml.YAMLError):
    pass


# libyaml's parser where PyYAML has it (the pure-Python one took most of a dry run's
# config reading); the constructor, which checks the keys, is the same
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UniqueKeyLoader(SAFE_LOADER):
    """A safe loader that rejects a key written twice in one mapping: YAML's own rule,
    which PyYAML does not enforce (it keeps the last value, so a second classifier of the
    same name would silently replace the first). Merge keys (``<<: *anchor``) are
    overridable by design and are not counted."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key; the constructor reports it
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise DuplicateKeyError(
                        f"key {key!r} defined twice in one mapping (lines {first} and {line})"
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML config file; a file that is not a mapping, or that defines a key twice
    in one mapping, is an error naming it."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=UniqueKeyLoader)  # noqa: S506 - safe loader
    except DuplicateKeyError as err:
        raise ConfigFileError(path, str(err)) from None
    except FileNotFoundError:
        raise ConfigFileError(path, "config file not found") from None
    except yaml.YAMLError as err:
        raise ConfigFileError(path, f"not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigFileError(path, f"expected a mapping of config keys, got {data!r}")
    return unaliased(data)


def unaliased(config: dict) -> dict:
    """A copy sharing no sub-dict or list with ``config`` nor within itself.

    YAML merge keys (``<<: *anchor``) share nested mappings by reference, so changing
    one entry's ``optimizer`` would change every entry's; ``copy.deepcopy`` keeps that
    sharing, a JSON round trip does not.
    """
    try:
        return json.loads(json.dumps(config))
    except TypeError as err:
        raise ConfigError(
            "<config>", f"expected plain YAML values ({err})", has_value=False
        ) from None


def finite_numbers(value, key: str = "") -> None:
    """Raise on the first NaN or infinity anywhere in ``value`` (YAML reads ``.nan``,
    ``.inf``): no config key means either."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(key or "<config>", "expected a finite number", value)
    if isinstance(value, dict):
        for name, item in value.items():
            finite_numbers(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            finite_numbers(item, f"{key}.{index}")


def load_schema(path: str | Path) -> dict:
    return yaml.load(Path(path).read_text(), Loader=SAFE_LOADER)  # noqa: S506 - safe loader


def canonical(value):
    """``value`` with every mapping's keys sorted, recursively.

    Rule params are compared by their text between runs; sorting keys means that
    reordering keys in a config file does not rerun anything.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value
