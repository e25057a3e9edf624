"""The recipe's optimiser, learning-rate schedule and weight averaging, in PyTorch terms."""

from __future__ import annotations

import torch

from .. import ir


class PaperSGD(torch.optim.Optimizer):
    """SGD with momentum as Krizhevsky et al. (§5) write it, the learning rate inside the
    velocity:  v ← μ·v − ε·λ·w − ε·∂L/∂w,  w ← w + v.

    PyTorch's SGD keeps the learning rate outside (v ← μ·v + ∂L/∂w + λ·w, w ← w − ε·v):
    the two take the same steps while ε is constant, and differ after ε changes — the
    paper's velocity carries the old rate's steps on at the old size, PyTorch's at the
    new one."""

    def __init__(self, params, lr: float, momentum: float, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(p)
                velocity = state["velocity"]
                velocity.mul_(momentum).add_(p, alpha=-lr * decay).add_(p.grad, alpha=-lr)
                p.add_(velocity)
        return loss


def optimizer(model: torch.nn.Module, recipe: ir.Recipe) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.update == "paper":
        return PaperSGD(params, recipe.lr, recipe.momentum, recipe.weight_decay)
    return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                           weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)


def scheduler(optim: torch.optim.Optimizer, recipe: ir.Recipe):
    """Stepped once an epoch (`plateau` with the validation error)."""
    s = recipe.schedule
    if s.kind == "step":
        return torch.optim.lr_scheduler.StepLR(optim, step_size=s.every, gamma=s.factor)
    if s.kind == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optim, milestones=list(s.at), gamma=s.factor)
    if s.kind == "plateau":
        floor = 0.0 if s.times is None else recipe.lr * s.factor ** s.times * 0.999
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optim, mode="min", factor=s.factor, patience=s.patience, min_lr=floor)
    return torch.optim.lr_scheduler.LambdaLR(optim, lambda epoch: 1.0)


def averager(model: torch.nn.Module, recipe: ir.Recipe):
    """Polyak's running mean of the weights (GoogLeNet §6), or an exponential moving
    average, updated after every step; None for `average=none`."""
    from torch.optim import swa_utils

    if recipe.average == "polyak":
        return swa_utils.AveragedModel(model, use_buffers=True)
    if recipe.average == "ema":
        return swa_utils.AveragedModel(
            model, use_buffers=True, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(recipe.decay))
    return None
