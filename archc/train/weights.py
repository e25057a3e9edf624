"""Trained weights for `archc eval` (and `archc train --init-from`): an archc checkpoint,
or a torchvision model's published ImageNet weights (``torchvision:vgg16``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UsageError
from . import checkpoint

TORCHVISION = "torchvision:"


@dataclass(frozen=True)
class Weights:
    state: dict[str, torch.Tensor]
    classes: list[str]
    source: str


def load(weights: str, spec_text: str) -> Weights:
    """The weights ``weights`` names: a checkpoint of this spec, or torchvision's."""
    if weights.startswith(TORCHVISION):
        return _torchvision(weights[len(TORCHVISION):])
    state = checkpoint.load(Path(weights), spec_text)
    model = state["model"]
    if state.get("averaged"):  # the recipe's final model is the average of its weights
        model = {k[len("module."):]: v for k, v in state["averaged"].items()
                 if k.startswith("module.")}
    return Weights(model, list(state["classes"]), weights)


def _torchvision(name: str) -> Weights:
    import torchvision.models as models

    try:
        published = models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError):
        raise UsageError(f"torchvision has no model `{name}` with weights",
                         hint="e.g. torchvision:vgg16, torchvision:resnet50") from None
    try:
        state = published.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # noqa: BLE001 - no network, a damaged download
        raise UsageError(f"cannot get torchvision's `{name}` weights: "
                         f"{str(exc).splitlines()[0][:200]}",
                         hint="they download once into $TORCH_HOME (~/.cache/torch); "
                              "put the file there on a machine without network") from None
    return Weights(state, list(published.meta["categories"]), f"{TORCHVISION}{name}")


def apply(model: torch.nn.Module, weights: Weights, spec: str) -> None:
    """Load ``weights`` into ``model`` strictly, or say why they do not fit."""
    ours, theirs = model.state_dict(), weights.state
    missing = sorted(set(ours) - set(theirs))
    extra = sorted(set(theirs) - set(ours))
    shapes = sorted(k for k in set(ours) & set(theirs) if ours[k].shape != theirs[k].shape)
    if missing or extra or shapes:
        detail = (f"missing {', '.join(missing[:3])}" if missing else
                  f"unexpected {', '.join(extra[:3])}" if extra else
                  f"{shapes[0]} is {tuple(theirs[shapes[0]].shape)}, not "
                  f"{tuple(ours[shapes[0]].shape)}")
        raise UsageError(f"{weights.source} does not fit `{spec}`: {detail}",
                         hint="weights load into the spec that describes their network")
    model.load_state_dict(theirs, strict=True)
