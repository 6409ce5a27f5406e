"""Train a small CNN (or an MLP) on scikit-learn's handwritten digits with tapegrad.

    python -m tapegrad.examples.digits [--epochs 10] [--batch-size 64] [--seed 0]
                                       [--out digits_out] [--model cnn|mlp] [--threads 1]
                                       [--device cpu|cuda|cuda:1]
    mpiexec -n 2 python -m tapegrad.examples.digits --distributed

The 1,797 8x8 images ship inside scikit-learn (no download). 80% train, 20% held-out
test, both fixed by the seed. Adam + cross-entropy, a cosine learning-rate schedule, a
tqdm progress bar with live loss and accuracy (plain prints without tqdm). At the end
it prints the test accuracy, saves the weights with ``tg.save`` and plots the curves
to a PNG (matplotlib, Agg backend). The same seed gives bitwise the same numbers.
BLAS runs on one thread by default (see ``blas_threads``). ``--device cuda`` trains on a
GPU (through CuPy: ``pip install "tapegrad[cuda12]"``): the model is moved there and each
batch with ``.to(device)``. The console script ``tapegrad-digits`` is the same command.

``train(...)`` is importable and returns the metrics, for tests and notebooks.

``--distributed`` (under mpiexec, or ``python -m tapegrad.distributed.run -n 2 -m
tapegrad.examples.digits --distributed``) trains data-parallel: the model wrapped in
DistributedDataParallel, each rank on its DistributedSampler shard, ``--batch-size`` the
global batch split evenly over the ranks (so the steps match one process's). Metrics are
summed over ranks, the progress bar and the prints come from rank 0 only, and rank 0
alone writes the checkpoint (atomically: ``tg.save`` replaces the file when complete).
"""
import argparse
import contextlib
import os
import sys
import time

import tapegrad as tg
from tapegrad import nn
from tapegrad.utils.data import DataLoader, TensorDataset
from tapegrad.examples.amp import Precision, add_amp_argument



def load_data(seed, test_fraction=0.2):
    """(x_train, y_train, x_test, y_test) as tensors: images (N, 1, 8, 8) standardised
    with the training set's mean and std, labels int64."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - the examples extra installs it
        raise SystemExit("this example needs scikit-learn: pip install 'tapegrad[examples]'") from e
    digits = load_digits()
    images = tg.tensor(digits.images, dtype=tg.float32).reshape(-1, 1, 8, 8)
    labels = tg.tensor(digits.target, dtype=tg.int64)
    n = images.shape[0]
    perm = tg.randperm(n, generator=tg.Generator(seed)).numpy()
    n_test = int(round(n * test_fraction))
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    x_train, x_test = images.numpy()[train_idx], images.numpy()[test_idx]
    mean, std = x_train.mean(), x_train.std()
    x_train = (x_train - mean) / std
    x_test = (x_test - mean) / std
    return (tg.tensor(x_train), labels[tg.tensor(train_idx)], tg.tensor(x_test),
            labels[tg.tensor(test_idx)])


C1, C2 = 16, 32   # channels of the two conv blocks


def make_model(kind="cnn"):
    """The CNN: two 3x3 conv blocks (BatchNorm, ReLU), a 2x2 max-pool, dropout and two
    linear layers (about 40k parameters). The MLP: 64-128-64-10 with dropout."""
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, C1, 3, padding=1), nn.BatchNorm2d(C1), nn.ReLU(),
            nn.Conv2d(C1, C2, 3, padding=1), nn.BatchNorm2d(C2), nn.ReLU(),
            nn.MaxPool2d(2),                                   # 32 x 4 x 4
            nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(C2 * 4 * 4, 64), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(64, 10))
    if kind == "mlp":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    raise ValueError(f"unknown model {kind!r}; use 'cnn' or 'mlp'")


def evaluate(model, x, y, batch_size=512, device=None):
    """(mean cross-entropy, accuracy) in eval mode without recording."""
    model.eval()
    total_loss, correct = 0.0, 0
    with tg.no_grad():
        for i in range(0, x.shape[0], batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            if device is not None:
                xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            total_loss += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    model.train()
    return total_loss / x.shape[0], correct / x.shape[0]


def _progress(total, quiet):
    if quiet:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="training", unit="batch", leave=True)


def blas_threads(n):
    """A context that limits the BLAS thread pool to ``n`` threads (via threadpoolctl, which
    scikit-learn installs); a no-op when n is None or threadpoolctl is missing.

    The matrices here are small (at most 4096 x 144), so BLAS threads mostly wait on each
    other: one thread is several times faster on a 2-core machine, and far faster when
    other processes compete for the cores. Results are bitwise the same either way here."""
    if n is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def train(epochs=10, batch_size=64, seed=0, model="cnn", lr=5e-3, out=None, plot=True,
          quiet=False, threads=1, device="cpu", amp=None, distributed=False):
    """Train and return a dict of metrics: final test accuracy and loss, per-epoch
    curves, wall time, and the paths written (when ``out`` is given). ``threads`` caps
    the BLAS threads while training (None: leave the library's default); ``device``
    is where the model and each batch go; ``amp`` ("bf16", "fp16" or None) picks mixed
    precision (see tapegrad.examples.amp); ``distributed``: data-parallel over the MPI
    ranks (see the module docstring)."""
    with blas_threads(threads):
        return _train(epochs, batch_size, seed, model, lr, out, plot, quiet, tg.device(device),
                      Precision(amp, device), distributed)


class _Ranks:
    """The data-parallel setup for ``--distributed`` (one rank of one when off)."""

    def __init__(self, distributed, batch_size):
        self.on = distributed
        self.rank, self.world, self.owns_group = 0, 1, False
        if not distributed:
            return
        import tapegrad.distributed as dist
        self.dist = dist
        if not dist.is_initialized():
            dist.init_process_group("mpi")
            self.owns_group = True
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        if batch_size % self.world:
            raise ValueError(f"--batch-size {batch_size} (the global batch) must divide evenly "
                             f"over the {self.world} ranks")

    def loader(self, dataset, batch_size, seed):
        if not self.on:
            return DataLoader(dataset, batch_size=batch_size, shuffle=True,
                              generator=tg.Generator(seed)), None
        from tapegrad.utils.data import DistributedSampler
        sampler = DistributedSampler(dataset, shuffle=True, seed=seed)
        return DataLoader(dataset, batch_size=batch_size // self.world, sampler=sampler), sampler

    def total(self, *values):
        """Sums over ranks of the given numbers (float64)."""
        if not self.on:
            return values
        t = tg.tensor(list(values), dtype=tg.float64)
        self.dist.all_reduce(t)
        return tuple(t.tolist())

    def sync_buffers(self, module):
        """Rank 0's buffers (BatchNorm statistics) everywhere, so every rank evaluates the
        model rank 0 saves."""
        if self.on:
            for b in module.buffers():
                self.dist.broadcast(b, 0)


def _train(epochs, batch_size, seed, model, lr, out, plot, quiet, device, prec, distributed):
    t0 = time.perf_counter()
    ranks = _Ranks(distributed, batch_size)
    quiet = quiet or ranks.rank != 0
    tg.manual_seed(seed)
    x_train, y_train, x_test, y_test = load_data(seed)
    net = make_model(model).to(device)
    if ranks.on:
        net = nn.parallel.DistributedDataParallel(net)
        tg.manual_seed(seed + ranks.rank)     # each rank its own dropout masks
    plain = net.module if ranks.on else net
    opt = tg.optim.Adam(net.parameters(), lr=lr)
    loader, sampler = ranks.loader(TensorDataset(x_train, y_train), batch_size, seed)
    sched = tg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss()
    history = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    bar = _progress(epochs * len(loader), quiet)
    for epoch in range(1, epochs + 1):
        net.train()
        if sampler is not None:
            sampler.set_epoch(epoch)
        seen, loss_sum, correct = 0, 0.0, 0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            with prec.autocast():
                logits = net(xb)
                loss = loss_fn(logits, yb)
            opt.zero_grad()
            prec.step(loss, opt)
            sched.step()
            n = xb.shape[0]
            seen += n
            loss_sum += float(loss) * n
            correct += int((logits.detach().argmax(1) == yb).sum())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss_sum / seen:.4f}",
                                acc=f"{correct / seen:.3f}")
        seen, loss_sum, correct = ranks.total(seen, loss_sum, correct)
        ranks.sync_buffers(plain)
        with prec.autocast():
            test_loss, test_acc = evaluate(plain, x_test, y_test, device=device)
        history["train_loss"].append(loss_sum / seen)
        history["train_acc"].append(correct / seen)
        history["test_loss"].append(test_loss)
        history["test_acc"].append(test_acc)
        msg = (f"epoch {epoch:2d}/{epochs}: train loss {loss_sum / seen:.4f} "
               f"acc {correct / seen:.4f} | test loss {test_loss:.4f} acc {test_acc:.4f}")
        if bar is not None:
            bar.write(msg)
        elif not quiet:
            print(msg, flush=True)
    if bar is not None:
        bar.close()
    result = {"model": model, "epochs": epochs, "seed": seed, "amp": prec.amp,
              "test_acc": history["test_acc"][-1],
              "test_loss": history["test_loss"][-1], "history": history,
              "n_train": x_train.shape[0], "n_test": x_test.shape[0],
              "n_params": sum(p.numel() for p in plain.parameters()), "net": plain,
              "device": str(next(plain.parameters()).device),
              "rank": ranks.rank, "world_size": ranks.world}
    if out is not None:
        weights = os.path.join(out, f"digits_{model}.tg")
        if ranks.rank == 0:
            os.makedirs(out, exist_ok=True)
            tg.save({"model": plain.state_dict(), "epochs": epochs, "seed": seed,
                     "test_acc": result["test_acc"]}, weights)
            if plot:
                result["plot"] = plot_curves(history,
                                             os.path.join(out, f"digits_{model}_curves.png"),
                                             title=f"tapegrad {model.upper()} on sklearn digits")
        result["weights"] = weights
    if ranks.owns_group:
        ranks.dist.destroy_process_group()
    result["seconds"] = time.perf_counter() - t0
    return result


def plot_curves(history, path, title=""):
    """Loss and accuracy per epoch, train and test, side by side; returns the path (or
    None when matplotlib is missing)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot", file=sys.stderr)
        return None
    epochs = range(1, len(history["train_loss"]) + 1)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(epochs, history["train_loss"], "o-", label="train")
    a1.plot(epochs, history["test_loss"], "s-", label="test")
    a1.set_xlabel("epoch")
    a1.set_ylabel("cross-entropy")
    a1.set_yscale("log")
    a1.set_title("loss")
    a1.legend()
    a2.plot(epochs, [100 * a for a in history["train_acc"]], "o-", label="train")
    a2.plot(epochs, [100 * a for a in history["test_acc"]], "s-", label="test")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy (%)")
    a2.set_title("accuracy")
    a2.legend()
    a2.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(prog="tapegrad-digits", description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="seeds init, split, shuffling, dropout")
    p.add_argument("--lr", type=float, default=5e-3, help="Adam's initial learning rate")
    p.add_argument("--out", default="digits_out", help="folder for the weights and the plot")
    p.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (default 1: fastest for these small matrices; 0 keeps "
                        "the BLAS library's default)")
    p.add_argument("--device", default="cpu",
                   help="where to train: cpu (default), cuda or cuda:<index> (needs CuPy: "
                        "pip install \"tapegrad[cuda12]\" or \"tapegrad[cuda13]\")")
    add_amp_argument(p)
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the MPI ranks (start with mpiexec -n N); "
                        "--batch-size is then the global batch")
    a = p.parse_args(argv)
    r = train(epochs=a.epochs, batch_size=a.batch_size, seed=a.seed, model=a.model, lr=a.lr,
              out=a.out, plot=not a.no_plot, quiet=a.quiet, threads=a.threads or None,
              device=a.device, amp=a.amp, distributed=a.distributed)
    if r["rank"] != 0:
        return r
    if r["world_size"] > 1:
        print(f"data-parallel over {r['world_size']} ranks (global batch {a.batch_size})")
    print(f"{a.model.upper()} ({r['n_params']:,} parameters), {r['n_train']} train / "
          f"{r['n_test']} test images, {a.epochs} epochs on {r['device']}"
          f"{' with ' + a.amp + ' autocast' if a.amp else ''} in {r['seconds']:.1f} s")
    print(f"final test accuracy: {100 * r['test_acc']:.2f}%")
    print(f"saved weights to {r['weights']}")
    if r.get("plot"):
        print(f"saved curves to {r['plot']}")
    return r


def cli():
    """Console-script entry point (``tapegrad-digits``): exit status 0 on success."""
    main()
    return 0


if __name__ == "__main__":
    main()
