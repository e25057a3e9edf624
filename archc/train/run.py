"""`archc train`: a spec's recipe carried out, epoch by epoch, resumably.

A run lives in one folder: ``run.json`` (what was asked: the spec, the data, the command
line, the recipe as run, with every override), ``metrics.jsonl`` (a line every
``log_every`` steps — epoch, step, loss, learning rate, images/s, wall time — and one per
epoch with the validation loss and top-1/top-5 error) and ``checkpoint.pt`` (the whole
state after the last finished epoch, replaced atomically: see checkpoint.py).
``--resume`` reloads that state, RNG states included, and goes on with the next epoch:
the data order, augmentation and dropout of each epoch follow from the seed and the
epoch alone, so a run killed and resumed ends where an uninterrupted one does.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler

from .. import ir
from ..errors import UsageError
from . import checkpoint, data, distributed, optim
from .evaluate import Result, evaluate

RUN_FILE = "run.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"


@dataclass
class Options:
    """What `archc train` was asked, beyond the spec: ``None`` keeps the recipe's value."""

    data: str
    out: Path | None = None
    resume: Path | None = None
    lr: float | None = None
    batch: int | None = None
    epochs: int | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    workers: int = 2
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    compile: bool = False
    backend: str = "torch"
    init_from: Path | None = None
    plot: Path | None = None
    log_every: int = 20
    max_steps: int | None = None
    quiet: bool = False
    command: tuple[str, ...] = ()


def recipe_with(net: ir.Network, options: Options) -> ir.Recipe:
    """The spec's recipe with the command line's overrides; without a recipe, one made
    of them (plain SGD), if they say enough."""
    recipe = net.recipe
    if recipe is None:
        if None in (options.lr, options.batch, options.epochs):
            raise UsageError(f"`{net.name}` states no training recipe",
                             hint="add a `train` line to the spec, e.g. `train sgd lr=0.01 "
                                  "momentum=0.9 batch=128 epochs=90`, or give --lr, --batch "
                                  "and --epochs")
        recipe = ir.Recipe()
    changes = {key: value for key, value in (
        ("lr", options.lr), ("batch", options.batch), ("epochs", options.epochs),
        ("momentum", options.momentum), ("weight_decay", options.weight_decay))
        if value is not None}
    if recipe.optimizer == "adam" and "momentum" in changes:
        raise UsageError("the recipe's optimiser, Adam, has no momentum to set",
                         hint="--momentum goes with `train sgd`")
    recipe = replace(recipe, **changes)
    if recipe.update == "paper" and recipe.momentum == 0:
        raise UsageError("`update=paper` is a rule for SGD with momentum: --momentum 0 "
                         "leaves it nothing to do")
    return recipe


def train(net: ir.Network, options: Options) -> Path:
    """Train ``net`` (analysed, from spec text ``net.source``) as ``options`` say; returns
    the run's folder."""
    device = _device(options.device)
    world = distributed.join(device.type)
    try:
        return _Run(net, options, device, world).run()
    finally:
        distributed.leave(world)


def _device(choice: str) -> torch.device:
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: PyTorch sees no GPU here", hint="--device cpu")
    return torch.device(choice)


class _Run:
    def __init__(self, net: ir.Network, options: Options, device: torch.device,
                 world: distributed.World):
        self.net, self.options, self.world = net, options, world
        if device.type == "cuda":
            device = torch.device("cuda", world.local_rank)
            torch.cuda.set_device(device)
        self.device = device
        self.spec_text = net.source.text
        self.started = time.monotonic()
        self.state = None
        if options.resume is not None:
            self.folder = Path(options.resume)
            self.state = checkpoint.load(self.folder / CHECKPOINT, self.spec_text)
            self.recipe = self._resumed_recipe(self.state)
        else:
            self.recipe = recipe_with(net, options)
            self.folder = Path(options.out) if options.out else Path("runs") / net.name
        if self.recipe.batch % world.size:
            raise UsageError(f"a batch of {self.recipe.batch} does not divide among "
                             f"{world.size} processes",
                             hint=f"give --batch a multiple of {world.size}")

    # -- setting up --------------------------------------------------------------------------

    def _resumed_recipe(self, state: dict) -> ir.Recipe:
        done, recipe = state["epoch"], _recipe_from(state["recipe"])
        if self.options.epochs is not None:
            if self.options.epochs <= done:
                raise UsageError(f"--epochs {self.options.epochs}: this run has done {done}")
            recipe = replace(recipe, epochs=self.options.epochs)
        elif done >= recipe.epochs:
            raise UsageError(f"`{self.folder}` has finished its {recipe.epochs} epochs",
                             hint=f"to train longer, resume with --epochs N (more than {done})")
        return recipe

    def _prepare_folder(self) -> None:
        if self.state is not None or not self.world.main:
            return
        folder = self.folder
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            marked = (folder / RUN_FILE).is_file()
            raise UsageError(f"`{folder}` is not empty" + (": it holds a run" if marked else ""),
                             hint=(f"--resume {folder} continues it; " if marked else "")
                             + "-o names another folder")
        folder.mkdir(parents=True, exist_ok=True)
        recipe = {k: v for k, v in asdict(self.recipe).items() if k != "loc"}
        (folder / RUN_FILE).write_text(json.dumps({
            "archc_run": 1, "network": self.net.name, "spec": self.net.source.path,
            "spec_sha256": checkpoint.spec_digest(self.spec_text), "data": self.options.data,
            "command": list(self.options.command), "recipe": recipe,
            "seed": self.options.seed}, indent=2) + "\n", encoding="utf-8")

    def _model(self, classes: int):
        from .. import api

        torch.manual_seed(self.options.seed)
        random.seed(self.options.seed)
        model = api.load(self.net).Model(num_classes=classes, backend=self.options.backend)
        if self.options.init_from is not None and self.state is None:
            self._initialise_from(model, Path(self.options.init_from))
        return model.to(self.device)

    def _initialise_from(self, model: torch.nn.Module, path: Path) -> None:
        """VGG §3.1: deeper nets start from net A's trained layers — every tensor whose
        name and shape match — and the rest from their initialisation."""
        theirs = checkpoint.load(path)["model"]
        ours = model.state_dict()
        taken = {k for k, v in theirs.items() if k in ours and ours[k].shape == v.shape}
        model.load_state_dict({**ours, **{k: theirs[k] for k in taken}})
        layers = sorted({k.rsplit(".", 1)[0] for k in taken})
        left = sorted({k.rsplit(".", 1)[0] for k in ours if k not in taken})
        self._say(f"initialised from {path}: {len(layers)} layers taken "
                  f"({', '.join(layers) or 'none'}); {len(left)} left at their "
                  f"initialisation ({', '.join(left) or 'none'})")

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> Path:
        options, recipe, world = self.options, self.recipe, self.world
        center = ir.Evaluation("center")
        sets = data.load(options.data, self.net, recipe, center)
        classes = len(sets.classes)
        spec_classes = self.net.nodes[self.net.output].info.shape.channels
        if classes != spec_classes:
            self._say(f"note: `{self.net.name}` has {spec_classes} outputs; {sets.name} has "
                      f"{classes} classes, so its classifier gets {classes}")
        self._prepare_folder()
        distributed.barrier(world)
        model = self._model(classes)
        opt = optim.optimizer(model, recipe)
        schedule = optim.scheduler(opt, recipe)
        average = optim.averager(model, recipe)
        start = 0
        if self.state is not None:
            start = self._restore(self.state, model, opt, schedule, average)
        trained = distributed.wrap(model, world, self.device)
        step_fn = torch.compile(trained) if options.compile else trained
        sampler = DistributedSampler(sets.train, num_replicas=world.size, rank=world.rank,
                                     shuffle=True, seed=options.seed)
        per_rank = recipe.batch // world.size
        metrics = (self.folder / METRICS).open("a", encoding="utf-8") if world.main else None
        result = None
        steps_done = 0
        try:
            for epoch in range(start, recipe.epochs):
                sampler.set_epoch(epoch)
                generator = torch.Generator().manual_seed(options.seed * 100_003 + epoch)
                # Workers start afresh each epoch, seeded from the epoch: a resumed run's
                # augmentation is the uninterrupted run's.
                loader = DataLoader(sets.train, batch_size=per_rank, sampler=sampler,
                                    num_workers=0 if sets.in_memory else options.workers,
                                    generator=generator,
                                    persistent_workers=False, drop_last=False)
                steps_done, stopped = self._epoch(epoch, loader, step_fn, model, opt, average,
                                                  metrics, steps_done)
                evaluated = average.module if average is not None else model
                result = (evaluate(evaluated, sets.test, center, self.device, per_rank,
                                   autocast=options.amp) if world.main else None)
                error = distributed.broadcast(world, result.top1_error if result else 0.0)
                if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    schedule.step(error)
                else:
                    schedule.step()
                if world.main:
                    self._log(metrics, {"epoch": epoch + 1, **result.as_dict(),
                                        "lr": opt.param_groups[0]["lr"],
                                        "wall_s": round(time.monotonic() - self.started, 3)})
                    self._say(f"epoch {epoch + 1}/{recipe.epochs}: validation top-1 error "
                              f"{result.top1_error:.2%}, top-5 {result.top5_error:.2%}, "
                              f"loss {result.loss:.4f}")
                    checkpoint.save(self.folder / CHECKPOINT, self._state(
                        epoch + 1, model, opt, schedule, average, sets.classes, result))
                distributed.barrier(world)
                if stopped:
                    break
        finally:
            if metrics is not None:
                metrics.close()
        if world.main and options.plot is not None:
            from .curves import plot

            plot(self.folder / METRICS, Path(options.plot))
        return self.folder

    def _epoch(self, epoch, loader, step_fn, model, opt, average, metrics, steps_done):
        """One pass over the training set; returns the steps done in all, and whether
        --max-steps stopped it."""
        options = self.options
        weights = getattr(model, "SIDE_WEIGHTS", {})
        bar = self._bar(epoch, len(loader))
        seen, tick = 0, time.monotonic()
        try:
            for step, (x, y) in enumerate(_named_failures(loader)):
                if self.device.type != "cpu":
                    x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                with self._precision():  # entering even a disabled autocast costs 3 % here
                    out = step_fn(x)
                    loss = _loss(out, y, weights)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if average is not None:
                    average.update_parameters(model)
                steps_done += 1
                seen += len(y) * self.world.size
                rate = seen / max(time.monotonic() - tick, 1e-9)
                lr = opt.param_groups[0]["lr"]
                if bar is not None:
                    bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.3g}",
                                    img_s=f"{rate:,.0f}", refresh=False)
                    bar.update()
                if metrics is not None and (step + 1) % options.log_every == 0:
                    self._log(metrics, {"epoch": epoch + 1, "step": step + 1,
                                        "loss": loss.item(), "lr": lr,
                                        "images_per_s": round(rate, 1),
                                        "wall_s": round(time.monotonic() - self.started, 3)})
                if options.max_steps is not None and steps_done >= options.max_steps:
                    return steps_done, True
        finally:
            if bar is not None:
                bar.close()
        return steps_done, False

    def _precision(self):
        if self.options.amp:
            return torch.autocast(self.device.type, torch.bfloat16)
        return contextlib.nullcontext()

    def _bar(self, epoch: int, steps: int):
        if not self.world.main or self.options.quiet or not sys.stderr.isatty():
            return None
        from ..extras import need

        tqdm = need("tqdm", "train", "the progress bar").tqdm
        return tqdm(total=steps, desc=f"epoch {epoch + 1}/{self.recipe.epochs}", unit="step",
                    leave=False, file=sys.stderr)

    def _log(self, metrics, line: dict) -> None:
        metrics.write(json.dumps(line) + "\n")
        metrics.flush()

    def _say(self, text: str) -> None:
        if self.world.main and not self.options.quiet:
            print(text, file=sys.stderr)

    # -- state -------------------------------------------------------------------------------

    def _state(self, epoch, model, opt, schedule, average, classes, result: Result) -> dict:
        recipe = {k: v for k, v in asdict(self.recipe).items() if k != "loc"}
        return {
            "epoch": epoch, "finished": epoch >= self.recipe.epochs,
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": schedule.state_dict(),
            "averaged": average.state_dict() if average is not None else None,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                    **({"cuda": torch.cuda.get_rng_state()} if self.device.type == "cuda" else {})},
            "network": self.net.name, "spec": self.spec_text,
            "spec_sha256": checkpoint.spec_digest(self.spec_text),
            "command": list(self.options.command), "recipe": recipe,
            "classes": list(classes), "num_classes": len(classes), "metrics": result.as_dict(),
            "seed": self.options.seed, "data": self.options.data,
        }

    def _restore(self, state, model, opt, schedule, average) -> int:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["scheduler"])
        if average is not None and state.get("averaged") is not None:
            average.load_state_dict(state["averaged"])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(_tuples(state["rng"]["python"]))
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"])
        self.options.seed = state.get("seed", self.options.seed)
        self._say(f"resuming `{self.folder}` after epoch {state['epoch']}")
        return state["epoch"]


def _tuples(value):
    """random.getstate()'s tuples, which a checkpoint may give back as lists."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _recipe_from(saved: dict) -> ir.Recipe:
    saved = dict(saved)
    schedule = dict(saved.pop("schedule"))
    schedule = ir.Schedule(**{**schedule, "at": tuple(schedule["at"])})
    augment = dict(saved.pop("augment"))
    for key in ("scale", "area", "ratio"):
        if augment.get(key) is not None:
            augment[key] = tuple(augment[key])
    evaluation = dict(saved.pop("evaluation"))
    evaluation["scales"] = tuple(evaluation["scales"])
    return ir.Recipe(**saved, schedule=schedule, augment=ir.Augment(**augment),
                     evaluation=ir.Evaluation(**evaluation))


def _loss(out, y: torch.Tensor, weights: dict) -> torch.Tensor:
    """Cross-entropy of the logits, plus each side output's, times its weight (GoogLeNet's
    auxiliary classifiers, 0.3)."""
    if not isinstance(out, tuple):
        return F.cross_entropy(out, y)
    loss = F.cross_entropy(out[0], y)
    for name, side in zip(out._fields[1:], out[1:]):
        weight = weights.get(name)
        loss = loss + (1.0 if weight is None else weight) * F.cross_entropy(side, y)
    return loss


def _named_failures(loader):
    """The loader's batches; an image that cannot be read ends the run naming the file."""
    try:
        yield from loader
    except data.UnreadableImage as exc:
        raise exc.error() from None
