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
import math
import os
import random
import stat
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler

from .. import ir, limits, output
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
        _check_backend(options.backend, device)
        if options.resume is not None:
            given = [flag for flag, value in (("--lr", options.lr), ("--batch", options.batch),
                                              ("--momentum", options.momentum),
                                              ("--weight-decay", options.weight_decay))
                     if value is not None]
            if given:
                raise UsageError(f"{given[0]} with --resume: a resumed run goes on with its own "
                                 f"recipe, so that it ends as the uninterrupted run would",
                                 hint="--epochs is the one override --resume takes; to train "
                                      "on with other settings, start a run with --init-from "
                                      "RUN_DIR/checkpoint.pt")
            self.folder = Path(options.resume)
            self.state = self._checkpoint()
            self.recipe = self._resumed_recipe(self.state)
        else:
            self.recipe = recipe_with(net, options)
            self.folder = Path(options.out) if options.out else Path("runs") / net.name
        if self.recipe.batch % world.size:
            raise UsageError(f"a batch of {self.recipe.batch} does not divide among "
                             f"{world.size} processes",
                             hint=f"give --batch a multiple of {world.size}")

    # -- setting up --------------------------------------------------------------------------

    def _checkpoint(self) -> dict:
        path = self.folder / CHECKPOINT
        if not os.path.lexists(path) and _unfinished(self.folder):
            raise UsageError(f"`{self.folder}` never finished an epoch, so it has nothing to "
                             f"resume", hint=f"start it again: -o {self.folder}")
        return checkpoint.load(path, self.spec_text)

    def _resumed_recipe(self, state: dict) -> ir.Recipe:
        """The spec's recipe with the run's own overrides — the one part of the recipe a
        checkpoint gives, each checked as the command line's are: the rest comes from
        the spec, which the checkpoint's SHA-256 says it was trained from."""
        saved = state["recipe"]
        overrides = {}
        for key, (low, high) in limits.RECIPE_OVERRIDES.items():
            value = saved.get(key)
            whole = key in ("batch", "epochs")
            if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) \
                    or not (math.isfinite(value) and low <= value <= high):
                raise checkpoint.damaged(self.folder / CHECKPOINT,
                                         f"its recipe's `{key}` is {str(value)[:40]}")
            overrides[key] = value
        if state["epoch"] > overrides["epochs"]:
            raise checkpoint.damaged(self.folder / CHECKPOINT, f"it has done {state['epoch']} "
                                     f"of its {overrides['epochs']} epochs")
        if self.net.recipe is not None and self.net.recipe.optimizer == "adam":
            overrides.pop("momentum")
        recipe = recipe_with(self.net, replace(self.options, **overrides))
        done = state["epoch"]
        if self.options.epochs is not None:
            if self.options.epochs <= done:
                raise UsageError(f"--epochs {self.options.epochs}: this run has done {done}")
            recipe = replace(recipe, epochs=self.options.epochs)
        elif done >= recipe.epochs:
            raise UsageError(f"`{self.folder}` has finished its {recipe.epochs} epochs",
                             hint=f"to train longer, resume with --epochs N (more than {done})")
        return recipe

    def _prepare_folder(self) -> None:
        """A new or empty folder for the run — or one a run left before finishing its
        first epoch (its run.json and metrics, no checkpoint), which starts over — with
        the run's run.json in it.  Never a link: `-o` names the folder itself."""
        if self.state is not None or not self.world.main:
            return
        folder = self.folder
        if folder.is_symlink():
            raise UsageError(f"`-o {folder}` is a symbolic link",
                             hint="name the folder it points to, or a new one")
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"`{folder}` is not a folder", hint="-o names a new or empty folder")
        if folder.exists() and any(folder.iterdir()) and not _unfinished(folder):
            marked = (folder / RUN_FILE).is_file()
            raise UsageError(f"`{folder}` is not empty" + (": it holds a run" if marked else ""),
                             hint=(f"--resume {folder} continues it; " if marked else "")
                             + "-o names another folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(folder / METRICS):
                os.unlink(folder / METRICS)  # an unfinished run's: this run starts over
        except OSError as exc:
            raise UsageError(f"cannot make the folder `{folder}`: {exc.strerror or exc}") from None
        recipe = {k: v for k, v in asdict(self.recipe).items() if k != "loc"}
        output.write(folder / RUN_FILE, json.dumps({
            "archc_run": 1, "network": self.net.name, "spec": self.net.source.path,
            "spec_sha256": checkpoint.spec_digest(self.spec_text), "data": self.options.data,
            "command": list(self.options.command), "recipe": recipe,
            "seed": self.options.seed}, indent=2) + "\n", force=True, ours=lambda path: True)

    def _model(self, classes: int):
        from .. import api

        torch.manual_seed(self.options.seed)
        random.seed(self.options.seed)
        model = api.build(self.net, num_classes=classes, backend=self.options.backend)
        if self.device.type != "cpu":  # built on the CPU (whose memory build checked), then moved
            api.fits(sum(p.numel() for p in model.parameters()), torch.get_default_dtype(),
                     self.device)
        if self.options.init_from is not None and self.state is None:
            self._initialise_from(model, Path(self.options.init_from))
        return model.to(self.device)

    def _initialise_from(self, model: torch.nn.Module, path: Path) -> None:
        """VGG §3.1: deeper nets start from net A's trained layers — every tensor whose
        name and shape match — and the rest from their initialisation."""
        theirs = checkpoint.load(path)["model"]
        ours = model.state_dict()
        taken = {k for k, v in theirs.items() if k in ours and ours[k].shape == v.shape
                 and ours[k].is_floating_point() == v.is_floating_point()}
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
        if sets.left_out():
            self._say(sets.left_out())
        if self.state is not None and list(self.state["classes"]) != list(sets.classes):
            raise UsageError(f"`{self.folder}` was trained on {len(self.state['classes'])} "
                             f"classes; {sets.name} has {len(sets.classes)}"
                             + ("" if len(self.state["classes"]) != len(sets.classes)
                                else ", not the same"),
                             hint="resume a run on the data it was trained on")
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
        metrics = _append(self.folder / METRICS) if world.main else None
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
            for step, (x, y) in enumerate(data.named_failures(loader)):
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
        """The run's state from its checkpoint, each part checked against what it is
        loaded into before anything is taken from it."""
        path = self.folder / CHECKPOINT
        for part, target in (("model", model), ("averaged", average)):
            if target is None:
                continue
            if state.get(part) is None:
                raise checkpoint.damaged(path, f"it holds no `{part}` state")
            problem = checkpoint.mismatch(state[part], target.state_dict())
            if problem:
                raise checkpoint.damaged(path, f"its `{part}` does not fit `{self.net.name}`: "
                                               f"{problem}")
        checkpoint.check_optimizer(path, state["optimizer"], opt, self.recipe.lr)
        checkpoint.check_schedule(path, state["scheduler"], schedule)
        checkpoint.check_rng(path, state["rng"], self.device.type == "cuda")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["scheduler"])
        if average is not None:
            average.load_state_dict(state["averaged"])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(checkpoint.tuples(state["rng"]["python"]))
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"])
        self.options.seed = state["seed"]
        self._say(f"resuming `{self.folder}` after epoch {state['epoch']}")
        return state["epoch"]


def _unfinished(folder: Path) -> bool:
    """Whether ``folder`` holds what a run leaves before its first epoch ends: archc's
    run.json (and metrics), no checkpoint, nothing else."""
    try:
        names = set(os.listdir(folder))
        if not names <= {RUN_FILE, METRICS} or RUN_FILE not in names:
            return False
        return json.loads((folder / RUN_FILE).read_text(encoding="utf-8")).get("archc_run") == 1
    except (OSError, ValueError, AttributeError):
        return False


def _append(path: Path):
    """The metrics log, opened to append — never through a link (a link planted in a run
    folder would have archc write into a file outside it), and only a regular file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
                     0o666)
    except OSError as exc:
        raise UsageError(f"cannot write `{path}`: {exc.strerror or exc}",
                         hint="a run's metrics.jsonl is a regular file in its folder, not a "
                              "link") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"cannot write `{path}`: it is not a regular file")
    return os.fdopen(fd, "a", encoding="utf-8")


def _check_backend(backend: str, device: torch.device) -> None:
    """The fused kernels run on a GPU (or in Triton's interpreter, for the tests)."""
    if backend == "torch":
        return
    from ..extras import need

    need("triton", "triton", f"--backend {backend}")
    if backend == "triton" and device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise UsageError("--backend triton runs archc's fused Triton kernels, which need a CUDA "
                         "GPU", hint="--backend auto uses them on a GPU and PyTorch elsewhere")


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
