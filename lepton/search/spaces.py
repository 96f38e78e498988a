"""Declarative search spaces: YAML files in ``search_spaces/``, validated on load.

Schema (also in ``search_spaces/README.md``)::

    name: mlp                      # optional label
    family: mlp                    # mlp | resnet | cnn
    base: mlp                      # optional: start from a built-in space or another YAML
                                   # file (relative to this file's folder), override below
    description: ...               # optional
    parameters:                    # every key optional; missing ones take Lepton's defaults
      <name>: {type: int, low: 1, high: 4, log: false, step: 1}   # log: true takes step 1;
                                              # high - low: a multiple of step
      <name>: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}  # YAML: 1e-4 is text
      <name>: {type: categorical, choices: [relu, gelu]}  # not a plain [relu, gelu]
      <name>: {type: fixed, value: 0.1}       # or just `<name>: 0.1`
      width:  {..., per_layer: true}          # one value per hidden layer (width_0, width_1,
                                              # ...), the default; false: one shared `width`
      conv_channels: {..., per_block: true}   # one value per conv block (false: one shared)
      embedding_scale: {...}                  # drawn only when numeric_embedding is not none

Some parameters are read by some families only (:data:`FAMILY_PARAMETERS`); a space that
gives one of them for another family is refused, and those a ``base`` of another family
brings along are dropped. ``SearchSpace.user_given`` names the parameters the user wrote
(not those of a built-in file, directly or through ``base``): the data-aware priors only
narrow those, and ``SearchSpace.builtin`` names the built-in space at the root of the
``base`` chain, so ``{"base": "mlp", ...}`` is treated as the built-in ``mlp`` is.

Parameter names and the values they accept are in :data:`PARAMETERS`. Errors name the
key path, the bad value and what is accepted, e.g.
``search_space.parameters.activation.choices[2]='relux' is not one of elu, gelu, ...``.
"""

from __future__ import annotations

import copy
import math
import numbers
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .. import defaults
from ..models import ACTIVATIONS, EMBEDDINGS, FAMILIES, NORMALIZATIONS
from ..preprocessing import SCALINGS
from ..training import SCHEDULES

__all__ = ["SearchSpace", "load_search_space", "BUILTIN_SPACES", "PARAMETERS",
           "FAMILY_PARAMETERS", "SearchSpaceError"]

BUILTIN_SPACES = ("mlp", "resnet", "cnn")


class SearchSpaceError(ValueError):
    """A search space that does not follow the schema."""


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _none(v: object) -> object:
    return None if isinstance(v, str) and v.lower() == "none" else v


@dataclass(frozen=True)
class _Domain:
    """What one parameter accepts: its kind and a value check with a description."""

    kind: str                       # 'int' | 'float' | 'categorical'
    check: Callable[[Any], bool]
    accepted: str
    default: Any


PARAMETERS: dict[str, _Domain] = {
    "n_layers": _Domain("int", lambda v: _is_int(v) and 0 <= v <= 32, "an integer in [0, 32]", 2),
    "width": _Domain("int", lambda v: _is_int(v) and 1 <= v <= defaults.MAX_WIDTH,
                     f"an integer in [1, {defaults.MAX_WIDTH}]",
                     defaults.HIDDEN_LAYER_SIZES[0]),
    "activation": _Domain("categorical", lambda v: v in ACTIVATIONS,
                          "one of " + ", ".join(sorted(ACTIVATIONS)), defaults.ACTIVATION),
    "normalization": _Domain("categorical", lambda v: v in NORMALIZATIONS,
                             "one of " + ", ".join(NORMALIZATIONS), defaults.NORMALIZATION),
    "dropout": _Domain("float", lambda v: _is_num(v) and 0 <= v < 1, "a number in [0, 1)",
                       defaults.DROPOUT),
    "residual": _Domain("categorical", lambda v: isinstance(v, bool), "true or false", False),
    "learning_rate": _Domain("float", lambda v: _is_num(v) and 0 < v <= 10, "a number in (0, 10]",
                             defaults.LEARNING_RATE),
    "lr_schedule": _Domain("categorical", lambda v: v in SCHEDULES, "one of " + ", ".join(SCHEDULES),
                           defaults.LR_SCHEDULE),
    "weight_decay": _Domain("float", lambda v: _is_num(v) and 0 <= v <= 1, "a number in [0, 1]",
                            defaults.WEIGHT_DECAY),
    "beta1": _Domain("float", lambda v: _is_num(v) and 0 <= v < 1, "a number in [0, 1)", 0.9),
    "gradient_clip": _Domain("categorical", lambda v: v is None or (_is_num(v) and v > 0),
                             "a positive number or none", defaults.GRADIENT_CLIP),
    "batch_size": _Domain("int", lambda v: _is_int(v) and 1 <= v <= 1 << 20,
                          "a positive integer", 128),
    "label_smoothing": _Domain("float", lambda v: _is_num(v) and 0 <= v < 1, "a number in [0, 1)",
                               0.0),
    "epochs": _Domain("int", lambda v: _is_int(v) and 1 <= v <= 100_000, "a positive integer",
                      defaults.EPOCHS),
    "warmup_fraction": _Domain("float", lambda v: _is_num(v) and 0 <= v <= 0.5,
                               "a number in [0, 0.5]", defaults.WARMUP_FRACTION),
    "n_conv_blocks": _Domain("int", lambda v: _is_int(v) and 1 <= v <= 8, "an integer in [1, 8]", 2),
    "conv_channels": _Domain("int", lambda v: _is_int(v) and 1 <= v <= 4096,
                             "an integer in [1, 4096]", 32),
    "kernel_size": _Domain("categorical", lambda v: _is_int(v) and v >= 1 and v % 2 == 1,
                           "an odd positive integer", 3),
    "numeric_embedding": _Domain("categorical", lambda v: v in EMBEDDINGS,
                                 "one of " + ", ".join(EMBEDDINGS), "none"),
    "embedding_dim": _Domain("int", lambda v: _is_int(v) and 1 <= v <= 1024,
                             "an integer in [1, 1024]", 16),
    "embedding_scale": _Domain("float", lambda v: _is_num(v) and 0 < v <= 100,
                               "a number in (0, 100]", 0.1),
    "input_scaling": _Domain("categorical", lambda v: v in SCALINGS,
                             "one of " + ", ".join(SCALINGS), "robust"),
    "feature_fraction": _Domain("float", lambda v: _is_num(v) and 0 < v <= 1,
                                "a number in (0, 1]", 1.0),
}
#: Parameters that :meth:`SearchSpace.sample` reads for some families only, and those
#: families; every other parameter is read for all of them.
FAMILY_PARAMETERS: dict[str, tuple[str, ...]] = {
    "residual": ("mlp",),
    "numeric_embedding": ("mlp", "resnet"),
    "embedding_dim": ("mlp", "resnet"),
    "embedding_scale": ("mlp", "resnet"),
    "feature_fraction": ("mlp", "resnet"),
    "n_conv_blocks": ("cnn",),
    "conv_channels": ("cnn",),
    "kernel_size": ("cnn",),
}
# Parameters drawn once per layer (per_layer) or per conv block (per_block) unless the flag
# is false; the flag a name takes.
_PER_ITEM = {"width": "per_layer", "activation": "per_layer", "conv_channels": "per_block"}
_TOP_KEYS = {"name", "family", "base", "description", "parameters"}
# PyYAML (YAML 1.1) reads a float only with a dot and a signed exponent: 1e-4 is text.
_YAML_TEXT_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+\s*")


@dataclass
class SearchSpace:
    """A validated search space. ``parameters`` maps names to normalised spec dicts.

    ``builtin`` is the built-in space at the root of the ``base`` chain (a built-in's own
    name for a built-in; None for a space written from scratch). ``user_given`` holds the
    names of the parameters the user wrote, in this space, an override or a user file up
    the ``base`` chain; those of a built-in file are not in it. The priors widen only the
    parameters outside ``user_given``.
    """

    family: str
    parameters: dict[str, dict[str, Any]]
    name: str = "custom"
    description: str = ""
    source: str = "dict"
    builtin: str | None = None
    user_given: frozenset[str] = frozenset()
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- loading ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, where: str = "search_space",
                  source: str = "dict") -> SearchSpace:
        return cls._from_dict(raw, where=where, source=source, files=())

    @classmethod
    def _from_dict(cls, raw: Any, *, where: str, source: str,
                   files: tuple[Path, ...]) -> SearchSpace:
        # files: the YAML files being loaded, outermost first (relative bases, cycles)
        if not isinstance(raw, Mapping):
            raise SearchSpaceError(f"{where} must be a mapping, got {type(raw).__name__}.")
        unknown = sorted(set(raw) - _TOP_KEYS)
        if unknown:
            hint = ""
            if set(unknown) <= set(PARAMETERS):  # {"base": "mlp", "dropout": {...}}
                hint = (f"; search parameters go under 'parameters': {{'base': "
                        f"{raw.get('base') or 'mlp'!r}, 'parameters': {{{unknown[0]!r}: ...}}}}")
            raise SearchSpaceError(f"{where} has unknown key(s) {unknown}{hint}; accepted keys "
                                   f"are {sorted(_TOP_KEYS)}.")
        params: dict[str, Any] = {}
        family = raw.get("family")
        in_builtin_file = source.startswith("builtin:")
        builtin = source.removeprefix("builtin:") if in_builtin_file else None
        user_given: frozenset[str] = frozenset()
        if raw.get("base") is not None:
            base = _load(raw["base"], where=f"{where}.base", files=files, as_base=True)
            params = copy.deepcopy(base.parameters)
            family = family or base.family
            builtin, user_given = base.builtin, base.user_given
        family = family or "mlp"
        if family not in FAMILIES:
            raise SearchSpaceError(
                f"{where}.family={family!r} is not one of {', '.join(FAMILIES)}.")
        # The user changed the family from the base's: what the new family never reads goes
        # (a cnn base's conv_channels would otherwise be refused in an mlp space).
        params = {n: s for n, s in params.items() if _used_by(n, family)}
        given = raw.get("parameters")
        given = {} if given is None else given
        if not isinstance(given, Mapping):
            raise SearchSpaceError(
                f"{where}.parameters must be a mapping of name -> spec, e.g. {{'n_layers': "
                f"{{'type': 'int', 'low': 1, 'high': 4}}}}; got {type(given).__name__} "
                f"{given!r}.")
        for pname, spec in given.items():
            params[pname] = _validate_param(pname, spec, f"{where}.parameters.{pname}")
        if not in_builtin_file:
            user_given |= frozenset(given)
        space = cls(family=family, parameters=params, name=str(raw.get("name", family)),
                    description=str(raw.get("description", "")), source=source,
                    builtin=builtin, user_given=user_given & frozenset(params))
        space._check_consistency(where)
        return space

    def _check_consistency(self, where: str) -> None:
        for pname in self.parameters:
            if not _used_by(pname, self.family):
                families = FAMILY_PARAMETERS[pname]
                raise SearchSpaceError(
                    f"{where}.parameters.{pname}: family {self.family!r} does not use "
                    f"{pname!r}, which applies to {' and '.join(families)} only; remove it "
                    f"or set family to {families[0]!r}.")
        n_layers = self.parameters.get("n_layers")
        if n_layers is not None:
            low = n_layers["low"] if n_layers["type"] == "int" else min(_values(n_layers))
            if self.family == "resnet" and low < 1:
                raise SearchSpaceError(
                    f"{where}.parameters.n_layers must be >= 1 for family 'resnet'; got {low}.")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "description": self.description,
                "parameters": copy.deepcopy(self.parameters)}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def override(self, **specs: Any) -> SearchSpace:
        """A copy with some parameters replaced, e.g. ``space.override(n_layers=2)``.

        The copy keeps ``builtin``; the replaced parameters join ``user_given``.
        """
        params = copy.deepcopy(self.parameters)
        for pname, spec in specs.items():
            params[pname] = _validate_param(pname, spec, f"search_space.parameters.{pname}")
        space = SearchSpace(family=self.family, parameters=params, name=self.name,
                            description=self.description, source=self.source,
                            builtin=self.builtin, user_given=self.user_given | frozenset(specs))
        space._check_consistency("search_space")
        return space

    # -- sampling --------------------------------------------------------------------
    def spec(self, name: str) -> dict[str, Any]:
        return self.parameters.get(name) or {"type": "fixed", "value": PARAMETERS[name].default}

    def _suggest(self, trial: Any, name: str, spec: dict[str, Any]) -> Any:
        t = spec["type"]
        if t == "fixed":
            return spec["value"]
        if t == "int":
            return trial.suggest_int(name, spec["low"], spec["high"], step=spec.get("step", 1),
                                     log=spec.get("log", False))
        if t == "float":
            return trial.suggest_float(name, spec["low"], spec["high"], log=spec.get("log", False))
        # Optuna stores categorical choices; None / bool / numbers are all fine.
        return trial.suggest_categorical(name, spec["choices"])

    def per_item(self, name: str) -> bool:
        """Whether ``name`` (width, activation, conv_channels) is drawn once per layer or
        block (``per_layer`` / ``per_block``, true unless the space says false)."""
        return bool(self.spec(name).get(_PER_ITEM[name], True))

    def _suggest_items(self, trial: Any, name: str, n: int) -> list[Any]:
        spec = self.spec(name)
        if self.per_item(name):
            return [self._suggest(trial, f"{name}_{i}", spec) for i in range(n)]
        # one value for every layer, drawn only when there is a layer to use it
        return [self._suggest(trial, name, spec)] * n if n else []

    def sample(self, trial: Any, *, task: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Draw one configuration: ``(model_config, training_params)``.

        Per-layer parameters are suggested as ``width_0, activation_0, ...`` and exist only
        for the layers the trial has (conditional on ``n_layers``), which is how TPE learns
        per-depth structure. With ``per_layer: false`` one value, suggested as ``width``
        (``activation``), serves every layer; ``conv_channels`` and ``per_block`` likewise.
        """
        get = lambda name: self._suggest(trial, name, self.spec(name))  # noqa: E731
        n_layers = int(get("n_layers"))
        widths = self._suggest_items(trial, "width", n_layers)
        activations = self._suggest_items(trial, "activation", n_layers)
        layers = [{"width": int(w), "activation": a} for w, a in zip(widths, activations)]
        model: dict[str, Any] = {"family": self.family, "layers": layers,
                                 "normalization": get("normalization") or "none",
                                 "dropout": float(get("dropout"))}
        if self.family == "mlp":
            model["residual"] = bool(get("residual"))
        if self.family in ("mlp", "resnet"):
            embedding = get("numeric_embedding") or "none"
            if embedding != "none":  # its settings exist only when an embedding is drawn
                model["numeric_embedding"] = embedding
                model["embedding_dim"] = int(get("embedding_dim"))
                model["embedding_scale"] = float(get("embedding_scale"))
        if self.family == "cnn":
            n_blocks = int(get("n_conv_blocks"))
            model["conv_channels"] = [int(c) for c in
                                      self._suggest_items(trial, "conv_channels", n_blocks)]
            model["kernel_size"] = int(get("kernel_size"))
        training = {
            "epochs": int(get("epochs")),
            "batch_size": int(get("batch_size")),
            "learning_rate": float(get("learning_rate")),
            "weight_decay": float(get("weight_decay")),
            "lr_schedule": get("lr_schedule"),
            "gradient_clip": _none(get("gradient_clip")),
            "betas": (float(get("beta1")), 0.999),
            "warmup_fraction": float(get("warmup_fraction")),
            "label_smoothing": float(get("label_smoothing")) if task != "regression" else 0.0,
        }
        return model, training

    def sample_scaling(self, trial: Any) -> str:
        """The trial's scaling of numeric input columns (``input_scaling``): it chooses
        which preprocessed copy of the data the trial trains on, not the network."""
        return str(self._suggest(trial, "input_scaling", self.spec("input_scaling")))

    def sample_features(self, trial: Any) -> float:
        """The trial's share of the preprocessed input columns (``feature_fraction``), the
        most informative kept (:func:`lepton.preprocessing.feature_ranking` on each fold's
        training rows): like the scaling, it chooses the data the trial trains on."""
        return float(self._suggest(trial, "feature_fraction", self.spec("feature_fraction")))

    def scalings(self) -> list[str]:
        """Every ``input_scaling`` a trial of this space can draw."""
        return [str(v) for v in _values(self.spec("input_scaling"))]

    # -- helpers for priors and the portfolio -----------------------------------------
    def clamp(self, name: str, value: Any) -> Any:
        """``value`` moved inside this space's domain for ``name`` (portfolio configs): an
        int range's nearest point of its grid ``low + k * step`` within [low, high]."""
        spec = self.spec(name)
        t = spec["type"]
        if t == "fixed":
            return spec["value"]
        if t == "int":
            low, step = spec["low"], spec.get("step", 1)
            top = low + (spec["high"] - low) // step * step  # Optuna's last point of the grid
            k = round((min(max(value, low), top) - low) / step)
            return int(min(low + k * step, top))
        if t == "float":
            return float(min(max(value, spec["low"]), spec["high"]))
        choices = spec["choices"]
        if value in choices:
            return value
        if _is_num(value) and all(_is_num(c) for c in choices):
            return min(choices, key=lambda c: abs(math.log(max(c, 1e-12)) - math.log(max(value, 1e-12))))
        return choices[0]

    def param_names(self) -> set[str]:
        return set(self.parameters)


def _values(spec: dict[str, Any]) -> list[Any]:
    if spec["type"] == "fixed":
        return [spec["value"]]
    if spec["type"] == "categorical":
        return list(spec["choices"])
    return [spec["low"], spec["high"]]


def _validate_param(name: str, spec: Any, where: str) -> dict[str, Any]:
    if name not in PARAMETERS:
        raise SearchSpaceError(
            f"{where}: unknown parameter {name!r}; known parameters are "
            f"{', '.join(sorted(PARAMETERS))}.")
    dom = PARAMETERS[name]
    if isinstance(spec, (list, tuple, set)):  # YAML `activation: [relu, gelu]`
        raise SearchSpaceError(
            f"{where}={_yaml_flow(spec)} is a list, not a spec or a single value: to search "
            f"several values write {{type: categorical, choices: {_yaml_flow(spec)}}}, or write "
            "a single value to fix it.")
    if not isinstance(spec, Mapping):
        spec = {"type": "fixed", "value": spec}
    spec = dict(spec)
    t = spec.get("type")
    allowed_types = ("fixed", "categorical") if dom.kind == "categorical" else (
        "fixed", "categorical", dom.kind) if dom.kind == "float" else ("fixed", "categorical", "int")
    if t not in allowed_types:
        hint = (" (a mapping is read as a spec, which names its type, e.g. {type: "
                "categorical, choices: [...]})" if t is None else "")
        raise SearchSpaceError(
            f"{where}.type={t!r} is not one of {', '.join(allowed_types)}{hint}.")
    # per_layer / per_block only where the name takes it (refused below, saying where)
    own_flag = {_PER_ITEM[name]} if name in _PER_ITEM else set()
    allowed_keys = {"type", "description"} | own_flag | {
        "fixed": {"value"}, "categorical": {"choices"}, "int": {"low", "high", "log", "step"},
        "float": {"low", "high", "log"}}[t]
    extra = sorted(set(spec) - allowed_keys - set(_PER_ITEM.values()))
    if extra:
        raise SearchSpaceError(
            f"{where} has unknown key(s) {extra} for type {t!r}; accepted: {sorted(allowed_keys)}.")
    for flag in ("per_layer", "per_block"):
        if flag not in spec:
            continue
        if _PER_ITEM.get(name) != flag:
            valid = sorted(n for n, f in _PER_ITEM.items() if f == flag)
            raise SearchSpaceError(f"{where}.{flag} is only valid for {valid}.")
        if not isinstance(spec[flag], bool):
            raise SearchSpaceError(
                f"{where}.{flag}={spec[flag]!r} must be true (one value per "
                f"{flag.removeprefix('per_')}) or false (one value shared by all).")

    def check(value: Any, path: str) -> Any:
        value = _none(value) if name == "gradient_clip" else value
        if name == "gradient_clip" and _is_int(value):
            value = float(value)
        if isinstance(value, (list, tuple, set, Mapping)):  # unhashable: `v in ACTIVATIONS`
            kind = "mapping" if isinstance(value, Mapping) else "list"
            fix = ("list each choice on its own, e.g. choices: [a, b]" if ".choices[" in path
                   else "to search several values write {type: categorical, choices: [a, b]}")
            raise SearchSpaceError(
                f"{path}={_yaml_flow(value)} is a {kind}, not {dom.accepted}: {fix}.")
        if not dom.check(value):
            raise SearchSpaceError(f"{path}={value!r} is not {dom.accepted}{_yaml_hint(value)}.")
        return value

    if t == "fixed":
        if "value" not in spec:
            raise SearchSpaceError(f"{where}.value is required for type 'fixed'.")
        spec["value"] = check(spec["value"], f"{where}.value")
    elif t == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SearchSpaceError(f"{where}.choices must be a non-empty list; got {choices!r}.")
        spec["choices"] = [check(c, f"{where}.choices[{i}]") for i, c in enumerate(choices)]
    else:
        for key in ("low", "high"):
            if key not in spec:
                raise SearchSpaceError(f"{where}.{key} is required for type {t!r}.")
            spec[key] = check(spec[key], f"{where}.{key}")
        if spec["low"] > spec["high"]:
            raise SearchSpaceError(
                f"{where}: low={spec['low']!r} is greater than high={spec['high']!r}.")
        if "log" in spec and not isinstance(spec["log"], bool):
            raise SearchSpaceError(f"{where}.log={spec['log']!r} must be true or false.")
        if spec.get("log") and spec["low"] <= 0:
            raise SearchSpaceError(f"{where}: log=true needs low > 0; got low={spec['low']!r}.")
        if t == "int" and "step" in spec and (not _is_int(spec["step"]) or spec["step"] < 1):
            raise SearchSpaceError(f"{where}.step={spec['step']!r} must be a positive integer.")
        # Optuna refuses the pair in every trial (suggest_int: "only accept step is 1 when
        # 'log' argument is True"), so refuse it here, once
        if t == "int" and spec.get("log") and spec.get("step", 1) != 1:
            raise SearchSpaceError(
                f"{where}: log=true takes step 1 (Optuna draws a log-scaled integer from "
                f"every integer in [low, high]); got step={spec['step']!r}. Drop step, or set "
                "log: false.")
        # Optuna moves such a high down to the grid with a warning in every trial: said
        # once, here, as for log with step
        if t == "int" and (spec["high"] - spec["low"]) % spec.get("step", 1):
            low, high, step = spec["low"], spec["high"], spec["step"]
            top = low + (high - low) // step * step
            above = f" or {top + step}" if dom.check(top + step) else ""
            grid = (", ".join(map(str, range(low, top + 1, step))) if top - low <= 2 * step
                    else f"{low}, {low + step}, ..., {top}")
            raise SearchSpaceError(
                f"{where}: high={high!r} is not on the grid of step={step!r} from "
                f"low={low!r} ({grid}): high - low must be a multiple of step. Set high to "
                f"{top}{above}, or drop step.")
    return spec


def _used_by(name: str, family: str) -> bool:
    return family in FAMILY_PARAMETERS.get(name, (family,))


def _yaml_flow(value: Any) -> str:
    """``value`` as YAML writes it on one line, e.g. ``[relu, gelu]``."""
    try:
        plain = list(value) if isinstance(value, (tuple, set)) else value
        return yaml.safe_dump(plain, default_flow_style=True, sort_keys=False,
                              width=1 << 16).strip()
    except yaml.YAMLError:
        return repr(value)


def _yaml_hint(value: Any) -> str:
    """For ``'1e-4'``: how to write it so that YAML reads a number."""
    if not isinstance(value, str) or not _YAML_TEXT_NUMBER.fullmatch(value):
        return ""
    mantissa, exponent = re.split("[eE]", value.strip())
    mantissa += "" if "." in mantissa else ".0"
    exponent = exponent if exponent[0] in "+-" else "+" + exponent
    return (f" (YAML reads {value} as text: write {mantissa}e{exponent}, unquoted, with a dot "
            "and a signed exponent)")


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, path: str, lines: tuple[int, int]):
        super().__init__(path)
        self.path, self.lines = path, lines


class _TooLarge(yaml.YAMLError):
    def __init__(self, size: int):
        super().__init__(str(size))
        self.size = size


#: values a search-space file may hold once its aliases are expanded: the built-in spaces
#: hold a few hundred; ten levels of ten aliases, a 500-byte file, would expand to 10^10
MAX_YAML_VALUES = 100_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader refusing a key given twice in one mapping, which it would
    otherwise read as the last one given (``n_layers: 2`` then ``n_layers: 3`` -> 3), and
    a document whose aliases expand it beyond ``MAX_YAML_VALUES`` values (its checks and
    messages read the values expanded: review helper-76)."""

    def construct_document(self, node: yaml.Node) -> Any:
        _refuse_duplicate_keys(node, "")
        size = _expanded_size(node, {})
        if size > MAX_YAML_VALUES:
            raise _TooLarge(size)
        return super().construct_document(node)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` holds with every alias written out, each node counted once
    (``sizes``: by node), so ten levels of ten aliases cost a hundred steps."""
    if id(node) not in sizes:
        sizes[id(node)] = 0  # a recursive alias is refused by the constructor itself
        children = ([n for pair in node.value for n in pair]
                    if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


def _refuse_duplicate_keys(node: yaml.Node, path: str, done: set[int] | None = None) -> None:
    # the composed node tree, before construction: raises _DuplicateKey(".a.b", lines).
    # A node is checked once: an alias is the node it names, and walked again at each
    # use, nine levels of ten aliases took minutes (review helper-75)
    done = set() if done is None else done
    if id(node) in done:
        return
    done.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            line = key.start_mark.line + 1
            if key.value in seen:
                raise _DuplicateKey(f"{path}.{key.value}", (seen[key.value], line))
            seen[key.value] = line
            _refuse_duplicate_keys(value, f"{path}.{key.value}", done)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, f"{path}[{i}]", done)


def load_search_space(space: Any, *, where: str = "search_space") -> SearchSpace:
    """A :class:`SearchSpace` from a built-in name, a YAML path, a dict or a SearchSpace."""
    return _load(space, where=where, files=(), as_base=False)


def _load(space: Any, *, where: str, files: tuple[Path, ...], as_base: bool) -> SearchSpace:
    # as_base: `space` is a `base`, where 'auto' (a family chosen from the data) has no
    # meaning, so the errors do not offer it
    auto = "" if as_base else "'auto', "
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, Mapping):
        return SearchSpace._from_dict(space, where=where, source="dict", files=files)
    if isinstance(space, (str, Path)):
        text = str(space)
        if text in BUILTIN_SPACES:
            raw = yaml.safe_load(resources.files("lepton.search_spaces").joinpath(
                f"{text}.yaml").read_text())
            return SearchSpace._from_dict(raw, where=f"{where}({text})",
                                          source=f"builtin:{text}", files=files)
        path = Path(text)
        if files and not path.is_absolute() and (files[-1].parent / path).exists():
            path = files[-1].parent / path  # next to the file naming it, before the cwd
        if path.suffix.lower() in (".yaml", ".yml") and path.exists():
            resolved = path.resolve()
            if resolved in files:
                cycle = " -> ".join(f.name for f in files[files.index(resolved):] + (resolved,))
                raise SearchSpaceError(
                    f"{where}={text!r} makes a cycle of bases ({cycle}); a space cannot be "
                    "its own base: name a built-in space or another file.")
            try:
                raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # a SafeLoader
            except _DuplicateKey as exc:
                raise SearchSpaceError(
                    f"{where}({path.name}){exc.path} is given twice (lines {exc.lines[0]} and "
                    f"{exc.lines[1]}); YAML would keep the last silently: remove one of them."
                ) from None
            except _TooLarge as exc:
                raise SearchSpaceError(
                    f"{where}({path.name}) holds {exc.size:,} values once its aliases (*name) "
                    f"are written out, more than the {MAX_YAML_VALUES:,} a search space may "
                    "hold: write the values the aliases stand for once each.") from None
            except yaml.YAMLError as exc:
                raise SearchSpaceError(f"{where}: {path} is not valid YAML: {exc}") from None
            return SearchSpace._from_dict(raw, where=f"{where}({path.name})", source=str(path),
                                          files=files + (resolved,))
        looked = (f" (looked next to {files[-1].name} and in the working directory)"
                  if files and not path.is_absolute() else "")
        if text == "auto" and not as_base:  # the estimators resolve it before this call
            raise SearchSpaceError(
                f"{where}='auto' chooses a family from the data, so it needs the data: give "
                f"it to an estimator (search_space='auto'), or load one of "
                f"{', '.join(BUILTIN_SPACES)}.")
        if path.is_file():
            raise SearchSpaceError(
                f"{where}={text!r} is an existing file, but not a .yaml or .yml one: a space "
                f"file's name ends in .yaml or .yml (rename it), or give a built-in space "
                f"({', '.join(BUILTIN_SPACES)}).")
        hint = ("; 'auto' chooses a family from the data and cannot be a base"
                if as_base and text == "auto" else "")
        accepted = ", ".join(BUILTIN_SPACES) + ("" if as_base else ", or 'auto'")
        raise SearchSpaceError(
            f"{where}={text!r} is neither a built-in space ({accepted}) nor an existing "
            f".yaml file{looked}{hint}.")
    raise SearchSpaceError(
        f"{where} must be {auto}a built-in name, a YAML path, a dict or a SearchSpace; "
        f"got {type(space).__name__}.")
