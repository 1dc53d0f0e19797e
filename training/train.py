"""The training loop: iteration-based, resumable to the same state, one or many processes (DDP under torchrun).

A run folder holds ``config.json``, ``metrics.jsonl`` (one line per logged iteration and per evaluation),
TensorBoard logs under ``tb/``, checkpoints ``model_NNNNNNN.pth`` (model, optimizer, iteration, every
process's random state) and ``model_final.pth`` when the run is done. ``resume`` continues from the newest
checkpoint: the data order and augmentations are a function of (seed, epoch, index) and the random state is
restored, so a resumed run ends where an uninterrupted one does.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from .config import Config, scaled_iterations
from .data import DensePoseCoco, to_tensors
from .model import build_model, resolve_norm
from .runs import FINAL, chart_set_of, checkpoint_name, checkpoints

EVAL_MAX_IMAGES = 200  # evaluation during training looks at this many images at most


class TrainingError(RuntimeError):
    pass


class Dist:
    """This process's place in a torchrun launch (one process when there is none)."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def start(self) -> torch.device:
        if torch.cuda.is_available():
            torch.cuda.set_device(self.local_rank)
        device = torch.device("cuda", self.local_rank) if torch.cuda.is_available() else torch.device("cpu")
        if self.world > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return device

    def gather(self, obj) -> list:
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def stop(self) -> None:
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def lr_factor(config: Config, iteration: int, total: int) -> float:
    """Linear warm-up, then x0.1 at each of the config's steps (fractions of the run)."""
    factor = 0.1 ** sum(iteration >= s * total for s in config.steps)
    if iteration < config.warmup:
        factor *= 0.001 + (1 - 0.001) * iteration / config.warmup
    return factor


def _epoch_order(n: int, per_iteration: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(n, generator=g).tolist()
    return (order * math.ceil(per_iteration / n)) if n < per_iteration else order


def _save(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a checkpoint is whole or absent


def _optimizer(config: Config, model) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


class _Loader(torch.utils.data.Dataset):
    """Dataset items addressed as (epoch, index), so data-loading processes augment like the main one."""

    def __init__(self, dataset: DensePoseCoco, keypoints: bool):
        self.dataset, self.keypoints = dataset, keypoints

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, index = key
        self.dataset.set_epoch(epoch)
        return to_tensors(self.dataset[index], self.keypoints)


class _Plan(torch.utils.data.Sampler):
    """This process's batches, as (epoch, dataset index), from iteration ``start`` to ``total``: each epoch a
    fresh permutation of (seed, epoch), split across processes (a dataset smaller than a global batch is
    repeated); made lazily, an epoch's permutation once."""

    def __init__(self, config: Config, n: int, dist: Dist, start: int, total: int):
        self.config, self.n, self.dist, self.start, self.total = config, n, dist, start, total

    def __len__(self) -> int:
        return self.total - self.start

    def __iter__(self):
        per_iteration = self.config.batch_size * self.dist.world
        per_epoch = max(1, self.n // per_iteration)
        cached = (None, None)
        for it in range(self.start, self.total):
            epoch, k = divmod(it, per_epoch)
            if cached[0] != epoch:
                cached = (epoch, _epoch_order(self.n, per_iteration, self.config.seed, epoch))
            chunk = cached[1][k * per_iteration : (k + 1) * per_iteration]
            yield [(epoch, i) for i in chunk[self.dist.rank :: self.dist.world]]


def train(config: Config, data: Path, images: Path, out: Path, chart_assets: Path | None = None,
          resume: bool = False, progress: bool = True, extra_points: dict | None = None,
          on_log: Callable[[dict], None] | None = None, evaluate_every: int | None = None,
          eval_data: Path | None = None, evaluate_at_end: bool = True,
          eval_images: Path | None = None) -> dict:  # fmt: skip
    """Train ``config`` on an exported DensePose-COCO file; returns the last logged record.

    Evaluation (GPS) runs at the end whenever ``chart_assets`` (the evaluation mesh) is given, unless
    ``evaluate_at_end`` is False, and every ``evaluate_every`` iterations when asked; it runs on ``eval_data``
    (whose images are in ``eval_images``, default: the training images' folder)
    (default: the training file), at most ``EVAL_MAX_IMAGES`` of its images, in the main process, and is
    logged too. ``on_log`` sees every record."""
    from .evaluate import Evaluator

    dist = Dist()
    device = dist.start()
    out = Path(out)
    try:
        if dist.main:
            out.mkdir(parents=True, exist_ok=True)
        found = checkpoints(out) if out.exists() else []
        if found and not resume:
            raise TrainingError(f"{out} already holds checkpoints: pass --resume to continue, or another --out")
        if config.flip > 0 and chart_assets is None:
            raise TrainingError("flip augmentation needs the chart set's mirror map: pass --chart-assets")
        if (evaluate_every or eval_data) and chart_assets is None:
            raise TrainingError("evaluation needs the evaluation mesh: pass --chart-assets")
        charts = chart_set_of(chart_assets)
        dataset = DensePoseCoco(data, images, chart_assets, augment=True, sizes=None, flip=config.flip,
                                seed=config.seed, extra_points=extra_points)  # fmt: skip
        if not len(dataset):
            raise TrainingError(f"{data}: no image has a person with DensePose points")
        if config.batch_size < 1 or config.iterations < 0:
            raise TrainingError(f"batch size {config.batch_size} and iterations {config.iterations}: "
                                "a batch holds at least 1 image, and a run has 0 (the schedule's) or more")  # fmt: skip
        total = scaled_iterations(config, len(dataset), dist.world)
        config = replace(config, iterations=total, norm=resolve_norm(config))
        torch.manual_seed(config.seed)  # the same initial weights in every process
        model = build_model(config).to(device)
        optimizer = _optimizer(config, model)
        start = 0
        precision = Precision(config.amp, device)
        if resume and found:
            state = torch.load(found[-1][1], map_location="cpu", weights_only=False)
            _check_same_run(state.get("config") or {}, config, found[-1][1])
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            precision.load_state_dict(state.get("scaler"))
            start = state["iteration"]
            if start > total:
                raise TrainingError(f"{found[-1][1]} is already past {total} iterations (at {start})")
            rng = state.get("rng") or []
            if len(rng) == dist.world:
                _set_rng(rng[dist.rank])
            else:
                torch.manual_seed(config.seed * 1000 + dist.rank + start)
        else:
            torch.manual_seed(config.seed * 1000 + dist.rank)  # each process samples its own RoIs
        if dist.main:
            (out / "config.json").write_text(json.dumps(config.to_dict(), indent=1))
            _trim_metrics(out, start)  # lines of an interrupted run past its newest checkpoint are redone
        net = torch.compile(model) if config.compile else model
        if dist.world > 1:
            ids = [device.index] if device.type == "cuda" else None
            net = torch.nn.parallel.DistributedDataParallel(net, device_ids=ids)
        loader = torch.utils.data.DataLoader(
            _Loader(dataset, config.keypoints), batch_sampler=_Plan(config, len(dataset), dist, start, total),
            num_workers=config.workers, collate_fn=lambda batch: batch,
            generator=torch.Generator().manual_seed(config.seed),  # not the global RNG: a resumed run draws alike
            pin_memory=device.type == "cuda", persistent_workers=config.workers > 0,
            prefetch_factor=4 if config.workers > 0 else None,  # batches ready ahead: a GPU waits for none
        )  # fmt: skip
        writer = _tensorboard(out) if dist.main else None
        evaluator = None
        if (evaluate_every or eval_data or (evaluate_at_end and chart_assets is not None)) and dist.main:
            evaluator = Evaluator(chart_assets, eval_data or data, eval_images or images, max_images=EVAL_MAX_IMAGES)
        evaluate_every = evaluate_every or total
        bar = _bar(progress and dist.main, start, total)
        record: dict = {}
        model.train()
        t_log, it_log = time.monotonic(), start
        for it, batch in enumerate(loader, start=start):
            factor = lr_factor(config, it, total)
            for group in optimizer.param_groups:
                group["lr"] = config.lr * factor
            imgs = [img.to(device, non_blocking=True) for img, _ in batch]
            targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for _, t in batch]
            with precision.autocast():
                losses = net(imgs, targets)
            losses = {k: v.float() for k, v in losses.items()}
            loss = sum(losses.values())
            if not _all_finite(dist, loss):
                raise TrainingError(f"iteration {it + 1}: the loss is not finite ({_floats(losses)}); "
                                    f"the newest checkpoint in {out} is unaffected")  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            precision.step(loss, optimizer, model.parameters())
            done = it + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
            if done % config.log_period == 0 or done == total or done == start + 1:
                values = {k: sum(v) / dist.world for k, v in _gathered(dist, losses).items()}
                now = time.monotonic()
                record = {"iteration": done, "loss": sum(values.values()), **values, "lr": config.lr * factor,
                          "s_per_iter": (now - t_log) / max(1, done - it_log), "world_size": dist.world}  # fmt: skip
                t_log, it_log = now, done
                if dist.main:
                    _log(out, writer, record, on_log)
            if done % config.checkpoint_period == 0 or done == total:
                rng = dist.gather(_get_rng())
                if dist.main:
                    _save(out / checkpoint_name(done), {"model": model.state_dict(),
                          "optimizer": optimizer.state_dict(), "iteration": done, "config": config.to_dict(),
                          "rng": rng, "scaler": precision.state_dict(), "charts": charts})  # fmt: skip
            if evaluator is not None and (done % evaluate_every == 0 or done == total):
                numbers = evaluator(model)
                model.train()
                _log(out, writer, {"iteration": done, "eval": numbers}, on_log)
        if bar is not None:
            bar.close()
        if dist.world > 1:  # the processes must hold the same weights
            sums = dist.gather(float(sum(p.double().sum() for p in model.parameters())))
            if max(sums) - min(sums) > 1e-6 * max(1.0, abs(sums[0])):
                raise TrainingError(f"the processes' weights differ after training: {sums}")
            record["ranks_in_sync"] = True
        if dist.main:
            _save(out / FINAL, {"model": model.state_dict(), "iteration": total, "config": config.to_dict(),
                                "charts": charts})  # fmt: skip
            sync = {"ranks_in_sync": True} if dist.world > 1 else {}
            _log(out, writer, {"iteration": total, "done": True, **sync}, on_log)
            if writer is not None:
                writer.close()
        return record
    finally:
        dist.stop()


def _trim_metrics(out: Path, start: int) -> None:
    kept = [r for r in read_metrics(out) if r.get("iteration", 0) <= start and not r.get("done")]
    tmp = out / ".metrics.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    os.replace(tmp, out / "metrics.jsonl")


class Precision:
    """Mixed precision when the config asks for it: float16 with a gradient scaler on a GPU, bfloat16 on the CPU
    (no scaler needed); full precision otherwise. Gradients are unscaled before they are clipped."""

    def __init__(self, enabled: bool, device: torch.device):
        self.enabled, self.device = enabled, device
        self.dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda") if enabled and device.type == "cuda" else None

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.enabled)

    def state_dict(self) -> dict | None:
        """The loss scale and its counters (kept in checkpoints: a resumed GPU run goes on with them)."""
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)

    def step(self, loss, optimizer, parameters) -> None:
        parameters = list(parameters)
        if self.scaler is None:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 10.0)
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(parameters, 10.0)
        self.scaler.step(optimizer)
        self.scaler.update()


def _check_same_run(stored: dict, config: Config, path: Path) -> None:
    """A run folder resumes with the config it started with (the iteration count may grow)."""
    differ = [k for k, v in config.to_dict().items()
              if k not in ("iterations", "workers", "pretrained", "checkpoint_period", "log_period")
              and k in stored and json.loads(json.dumps(stored[k])) != json.loads(json.dumps(v))]  # fmt: skip
    if differ:
        raise TrainingError(f"{path} was trained with another config ({stored.get('name')}; differs in "
                            f"{', '.join(differ[:5])}): resume with its options, or use another --out")  # fmt: skip


def _get_rng():
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None}


def _set_rng(state) -> None:
    if isinstance(state, torch.Tensor):  # a checkpoint of the CPU state alone
        state = {"cpu": state, "cuda": None}
    torch.set_rng_state(state["cpu"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _all_finite(dist: Dist, loss: torch.Tensor) -> bool:
    """Whether every process's loss is finite (all stop together, none waits for the others forever)."""
    flag = torch.tensor([1.0 if torch.isfinite(loss) else 0.0], device=loss.device)
    if dist.world > 1:
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
    return bool(flag.item())


def _gathered(dist: Dist, losses: dict) -> dict:
    values = {k: float(v.detach()) for k, v in losses.items()}
    all_values = dist.gather(values)
    return {k: [v[k] for v in all_values] for k in values}


def _floats(losses: dict) -> str:
    return ", ".join(f"{k} {float(v):.4g}" for k, v in losses.items())


def _log(out: Path, writer, record: dict, on_log) -> None:
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    if writer is not None:
        it = record["iteration"]
        for k, v in record.items():
            if isinstance(v, float) and k.startswith(("loss", "lr")):
                writer.add_scalar(f"train/{k}", v, it)
        for k, v in (record.get("eval") or {}).get("gps", {}).items():
            writer.add_scalar(f"eval/gps_{k}", v, it)
        writer.flush()
    if on_log is not None:
        on_log(record)


def _tensorboard(out: Path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(out / "tb"))


def _bar(enabled: bool, start: int, total: int):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="it", dynamic_ncols=True, desc="train")


def read_metrics(run: Path) -> list[dict]:
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
