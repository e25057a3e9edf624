"""Trained weights for `archc eval` (and `archc train --init-from`): an archc checkpoint,
or a torchvision model's published ImageNet weights (``torchvision:vgg16``)."""

from __future__ import annotations

import hashlib
import os
import stat
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
    state = fetch(published.url, f"torchvision's `{name}` weights")
    return Weights(state, list(published.meta["categories"]), f"{TORCHVISION}{name}")


def fetch(url: str, what: str) -> dict[str, torch.Tensor]:
    """The state_dict at ``url``, from torch's cache (``$TORCH_HOME/hub/checkpoints``),
    downloaded there first if it is not yet.

    Not through ``torch.hub.load_state_dict_from_url``, which unpickles with
    ``weights_only=False`` and checks a file's hash only as it downloads it: a file
    planted in the cache would run its code.  Here the cached file's SHA-256 must begin
    with the digits its name carries (`vgg16-397923af.pth`), whether it was just
    downloaded or lay there already, and it is read as data (``weights_only=True``)."""
    from urllib.parse import urlparse

    filename = os.path.basename(urlparse(url).path)
    found = torch.hub.HASH_REGEX.search(filename)
    prefix = found.group(1) if found else ""
    if len(prefix) < 8:
        raise UsageError(f"cannot check {what}: `{filename}` carries no SHA-256 prefix")
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not os.path.lexists(cached):
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(cached), hash_prefix=prefix, progress=False)
        except Exception as exc:  # noqa: BLE001 - no network, a damaged or wrong download
            raise UsageError(f"cannot get {what}: {str(exc).splitlines()[0][:200]}",
                             hint="they download once into $TORCH_HOME (~/.cache/torch); on "
                                  f"a machine without network, put {filename} in "
                                  f"{cached.parent}") from None
    return _read_checked(cached, prefix, what)


def _read_checked(path: Path, prefix: str, what: str) -> dict[str, torch.Tensor]:
    """The tensors in ``path``, a regular file whose SHA-256 begins with ``prefix``: hashed
    and read through one open file, so what is checked is what is read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UsageError(f"cannot read {path}: it is not a regular file")
        digest = hashlib.sha256()
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        if not digest.hexdigest().startswith(prefix):
            raise UsageError(f"{path} is not {what}: its SHA-256 begins "
                             f"{digest.hexdigest()[:len(prefix)]}, not {prefix}",
                             hint="delete the file; archc then downloads the published one")
        handle.seek(0)
        try:
            state = torch.load(handle, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - the published file is a state_dict
            raise UsageError(f"cannot read {path}: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise UsageError(f"{path} does not hold a state_dict (names and tensors)")
    return state


def apply(model: torch.nn.Module, weights: Weights, spec: str) -> None:
    """Load ``weights`` into ``model`` strictly, or say why they do not fit."""
    problem = checkpoint.mismatch(weights.state, model.state_dict())
    if problem:
        raise UsageError(f"{weights.source} does not fit `{spec}`: {problem}",
                         hint="weights load into the spec that describes their network")
    model.load_state_dict(weights.state, strict=True)
