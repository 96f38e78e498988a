"""Declarative search spaces: YAML files in ``search_spaces/``, validated on load.

Schema (also in ``search_spaces/README.md``)::

    name: mlp                      # optional label
    family: mlp                    # mlp | resnet | cnn
    base: mlp                      # optional: start from a built-in space, override below
    description: ...               # optional
    parameters:                    # every key optional; missing ones take Lepton's defaults
      <name>: {type: int, low: 1, high: 4, log: false, step: 1}
      <name>: {type: float, low: 1e-4, high: 1e-2, log: true}
      <name>: {type: categorical, choices: [relu, gelu]}
      <name>: {type: fixed, value: 0.1}       # or just `<name>: 0.1`
      width:  {..., per_layer: true}          # one value per hidden layer (width_0, width_1, ...)
      conv_channels: {..., per_block: true}   # one value per conv block
      embedding_scale: {...}                  # drawn only when numeric_embedding is not none

Parameter names and the values they accept are in :data:`PARAMETERS`. Errors name the
key path, the bad value and what is accepted, e.g.
``search_space.parameters.activation.choices[2]='relux' is not one of elu, gelu, ...``.
"""

from __future__ import annotations

import copy
import math
import numbers
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

__all__ = ["SearchSpace", "load_search_space", "BUILTIN_SPACES", "PARAMETERS", "SearchSpaceError"]

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
    "width": _Domain("int", lambda v: _is_int(v) and 1 <= v <= 65536, "an integer in [1, 65536]",
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
}
_PER_LAYER = {"width", "activation"}
_PER_BLOCK = {"conv_channels"}
_TOP_KEYS = {"name", "family", "base", "description", "parameters"}


@dataclass
class SearchSpace:
    """A validated search space. ``parameters`` maps names to normalised spec dicts."""

    family: str
    parameters: dict[str, dict[str, Any]]
    name: str = "custom"
    description: str = ""
    source: str = "dict"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- loading ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, where: str = "search_space",
                  source: str = "dict") -> SearchSpace:
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
        if raw.get("base") is not None:
            base = load_search_space(raw["base"], where=f"{where}.base")
            params = copy.deepcopy(base.parameters)
            family = family or base.family
        family = family or "mlp"
        if family not in FAMILIES:
            raise SearchSpaceError(
                f"{where}.family={family!r} is not one of {', '.join(FAMILIES)}.")
        given = raw.get("parameters") or {}
        if not isinstance(given, Mapping):
            raise SearchSpaceError(f"{where}.parameters must be a mapping of name -> spec.")
        for pname, spec in given.items():
            params[pname] = _validate_param(pname, spec, f"{where}.parameters.{pname}")
        space = cls(family=family, parameters=params, name=str(raw.get("name", family)),
                    description=str(raw.get("description", "")), source=source)
        space._check_consistency(where)
        return space

    def _check_consistency(self, where: str) -> None:
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
        """A copy with some parameters replaced, e.g. ``space.override(n_layers=2)``."""
        return SearchSpace.from_dict({"family": self.family, "name": self.name,
                                      "description": self.description,
                                      "parameters": {**self.parameters, **specs}},
                                     source=self.source)

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

    def sample(self, trial: Any, *, task: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Draw one configuration: ``(model_config, training_params)``.

        Per-layer parameters are suggested as ``width_0, activation_0, ...`` and exist only
        for the layers the trial has (conditional on ``n_layers``), which is how TPE learns
        per-depth structure.
        """
        get = lambda name: self._suggest(trial, name, self.spec(name))  # noqa: E731
        n_layers = int(get("n_layers"))
        layers = []
        for i in range(n_layers):
            width = self._suggest(trial, f"width_{i}", self.spec("width"))
            act = self._suggest(trial, f"activation_{i}", self.spec("activation"))
            layers.append({"width": int(width), "activation": act})
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
            model["conv_channels"] = [int(self._suggest(trial, f"conv_channels_{i}",
                                                        self.spec("conv_channels")))
                                      for i in range(n_blocks)]
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

    def scalings(self) -> list[str]:
        """Every ``input_scaling`` a trial of this space can draw."""
        return [str(v) for v in _values(self.spec("input_scaling"))]

    # -- helpers for priors and the portfolio -----------------------------------------
    def clamp(self, name: str, value: Any) -> Any:
        """``value`` moved inside this space's domain for ``name`` (portfolio configs)."""
        spec = self.spec(name)
        t = spec["type"]
        if t == "fixed":
            return spec["value"]
        if t in ("int", "float"):
            v = min(max(value, spec["low"]), spec["high"])
            return int(round(v)) if t == "int" else float(v)
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
    if not isinstance(spec, Mapping):
        spec = {"type": "fixed", "value": spec}
    spec = dict(spec)
    t = spec.get("type")
    allowed_types = ("fixed", "categorical") if dom.kind == "categorical" else (
        "fixed", "categorical", dom.kind) if dom.kind == "float" else ("fixed", "categorical", "int")
    if t not in allowed_types:
        raise SearchSpaceError(f"{where}.type={t!r} is not one of {', '.join(allowed_types)}.")
    allowed_keys = {"type", "per_layer", "per_block", "description"} | {
        "fixed": {"value"}, "categorical": {"choices"}, "int": {"low", "high", "log", "step"},
        "float": {"low", "high", "log"}}[t]
    extra = sorted(set(spec) - allowed_keys)
    if extra:
        raise SearchSpaceError(
            f"{where} has unknown key(s) {extra} for type {t!r}; accepted: {sorted(allowed_keys)}.")
    if spec.get("per_layer") and name not in _PER_LAYER:
        raise SearchSpaceError(f"{where}.per_layer is only valid for {sorted(_PER_LAYER)}.")
    if spec.get("per_block") and name not in _PER_BLOCK:
        raise SearchSpaceError(f"{where}.per_block is only valid for {sorted(_PER_BLOCK)}.")

    def check(value: Any, path: str) -> Any:
        value = _none(value) if name == "gradient_clip" else value
        if name == "gradient_clip" and _is_int(value):
            value = float(value)
        if not dom.check(value):
            raise SearchSpaceError(f"{path}={value!r} is not {dom.accepted}.")
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
    return spec


def load_search_space(space: Any, *, where: str = "search_space") -> SearchSpace:
    """A :class:`SearchSpace` from a built-in name, a YAML path, a dict or a SearchSpace."""
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, Mapping):
        return SearchSpace.from_dict(space, where=where)
    if isinstance(space, (str, Path)):
        text = str(space)
        if text in BUILTIN_SPACES:
            raw = yaml.safe_load(resources.files("lepton.search_spaces").joinpath(
                f"{text}.yaml").read_text())
            return SearchSpace.from_dict(raw, where=f"{where}({text})", source=f"builtin:{text}")
        path = Path(text)
        if path.suffix.lower() in (".yaml", ".yml") and path.exists():
            try:
                raw = yaml.safe_load(path.read_text())
            except yaml.YAMLError as exc:
                raise SearchSpaceError(f"{where}: {path} is not valid YAML: {exc}") from None
            return SearchSpace.from_dict(raw, where=f"{where}({path.name})", source=str(path))
        raise SearchSpaceError(
            f"{where}={text!r} is neither a built-in space ({', '.join(BUILTIN_SPACES)}, or "
            "'auto') nor an existing .yaml file.")
    raise SearchSpaceError(
        f"{where} must be 'auto', a built-in name, a YAML path, a dict or a SearchSpace; "
        f"got {type(space).__name__}.")
