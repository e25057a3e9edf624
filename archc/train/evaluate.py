"""Top-1 and top-5 error under the papers' test protocols.

* ``center``: one crop per image, the centre of the image rescaled so the crop is 87.5 %
  of its shorter side.
* ``ten-crop`` (AlexNet §4.1): the four corner crops and the centre crop, and the mirror
  image of each; the ten soft-max outputs are averaged.
* ``multi-crop`` (GoogLeNet §7): 144 crops — at four scales, three squares, from each
  the corners, the centre and the whole square, and with ``flip`` the mirror images of
  all — whose soft-max outputs are averaged.
* ``dense`` (VGG §3.2): the fully-convolutional form of the network (``model.dense()``)
  on the whole image rescaled to each of the ``scales`` (its shorter side); each class
  score map is averaged over its positions, soft-maxed, and the results averaged over the
  scales — and over the mirrored images too, with ``flip``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .. import ir
from . import data


@dataclass(frozen=True)
class Result:
    images: int
    top1_error: float
    top5_error: float
    loss: float

    def as_dict(self) -> dict:
        return {"images": self.images, "top1_error": self.top1_error,
                "top5_error": self.top5_error, "loss": self.loss}


def evaluate(model: torch.nn.Module, dataset: Dataset, protocol: ir.Evaluation,
             device: torch.device, batch: int = 64, workers: int = 0,
             autocast: bool = False) -> Result:
    """``model``'s errors on ``dataset`` (whose transform matches ``protocol``)."""
    was_training = model.training
    model.eval()
    dense = protocol.protocol == "dense"
    if dense:
        model = model.dense() if hasattr(model, "dense") else model
        model.eval()
    whole = dense or protocol.protocol == "multi-crop"  # an image is a batch of its own
    loader = DataLoader(dataset, batch_size=1 if whole else batch, shuffle=False,
                        num_workers=workers)
    top1 = top5 = images = 0
    loss = 0.0
    with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=autocast):
        for x, y in data.named_failures(loader):
            x, y = x.to(device), y.to(device)
            probabilities = (_dense(model, x, protocol) if dense
                             else _probabilities(model, x, batch))
            probabilities = probabilities.float()
            loss += F.nll_loss(probabilities.clamp_min(1e-12).log(), y, reduction="sum").item()
            k = min(5, probabilities.shape[1])
            best = probabilities.topk(k, dim=1).indices
            top1 += (best[:, 0] == y).sum().item()
            top5 += (best == y[:, None]).any(1).sum().item()
            images += len(y)
    if was_training:
        model.train()
    if images == 0:
        return Result(0, float("nan"), float("nan"), float("nan"))
    return Result(images, 1 - top1 / images, 1 - top5 / images, loss / images)


def _logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    out = out[0] if isinstance(out, tuple) else out
    return out.mean((2, 3)) if out.dim() == 4 else out  # a score map: averaged over positions


def _probabilities(model: torch.nn.Module, x: torch.Tensor, batch: int) -> torch.Tensor:
    """Soft-max outputs, averaged over the crops where each image is several (ten-crop,
    multi-crop); at most ``batch`` crops go through the model at once."""
    if x.dim() == 5:
        n, crops = x.shape[:2]
        p = torch.cat([_logits(model, part).float().softmax(1)
                       for part in x.flatten(0, 1).split(batch)])
        return p.view(n, crops, -1).mean(1)
    return _logits(model, x).float().softmax(1)


def _dense(model: torch.nn.Module, x: torch.Tensor, protocol: ir.Evaluation) -> torch.Tensor:
    total = 0
    views = 0
    from torchvision.transforms.v2 import functional

    for scale in protocol.scales:  # the shorter side to Q, as torchvision's Resize(Q)
        resized = functional.resize(x, scale, antialias=True)
        for image in ([resized, resized.flip(-1)] if protocol.flip else [resized]):
            total = total + _logits(model, image).float().softmax(1)
            views += 1
    return total / views
