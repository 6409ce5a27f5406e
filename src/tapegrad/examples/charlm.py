"""Train a small character-level language model on Python's own documentation with tapegrad.

    python -m tapegrad.examples.charlm [--model transformer|lstm] [--steps N] [--seed 0]
                                       [--out charlm_out] [--device cpu|cuda]
                                       [--amp bf16|fp16] [--prompt "The "] [--temperature 0.8]

The text ships with Python itself: the pydoc topics of ``pydoc_data`` (the help() pages on
statements, operators and types; about 465,000 characters, 103 distinct, on CPython 3.11),
so nothing is downloaded. Each topic is cut at 90% of its length: the heads, joined, are the
training text, the tails the validation text (the same split every time). The default model
is a causal Transformer (token embedding plus learned or sinusoidal positions, pre-LayerNorm
``nn.TransformerEncoderLayer`` blocks under a causal mask, the head tied to the embedding);
``--model lstm`` is an embedding, an ``nn.LSTM`` and a linear head.

Training draws random windows of ``--block`` characters (AdamW, linear warm-up then cosine
decay, gradients clipped to norm 1) with a tqdm progress bar, evaluates the validation
loss every ``--eval-every`` steps on a fixed subset of validation windows and at the end on
all of them, and reports losses in bits per character (cross-entropy / ln 2) beside the
unigram entropy of the training text (what a model that ignores context gets). At the end
it saves the checkpoint with ``tg.save``, plots the curves to a PNG (matplotlib, Agg) and
prints a few lines sampled from ``--prompt``. The same seed gives the same numbers. CPU
work runs on one thread by default (``--threads``: ``tg.set_num_threads`` and the BLAS
pools for the run, then restored).
The console script ``tapegrad-charlm`` is the same command; ``train(...)`` is importable and
returns the metrics, and ``load(path)`` gives back the model and its vocabulary.
"""
import argparse
import collections
import contextlib
import math
import os
import sys
import time

import tapegrad as tg
from tapegrad import nn
from tapegrad.examples.amp import Precision, add_amp_argument
from tapegrad.examples.charlm_model import make_model, sample
from tapegrad.examples.digits import _progress, blas_threads

LN2 = math.log(2.0)

#: defaults per model: sizes, steps and learning rate (measured: about two minutes on a
#: 2-core machine at one thread, 117 s and 92 s; docs/sequence-models.md, "The charlm job")
DEFAULTS = {
    "transformer": {"steps": 1200, "lr": 3e-3, "block": 64, "batch_size": 32,
                    "model": {"d_model": 128, "nhead": 4, "layers": 2, "ff": 512,
                              "dropout": 0.0, "positions": "learned", "tie": True}},
    "lstm": {"steps": 1200, "lr": 5e-3, "block": 64, "batch_size": 32,
             "model": {"embed": 64, "hidden": 256, "layers": 1, "dropout": 0.0}},
}


# -- data -------------------------------------------------------------------------------------
def load_text(val_fraction=0.1):
    """(train text, validation text): every pydoc topic (sorted by name) cut at
    ``1 - val_fraction`` of its length, heads and tails each joined with newlines."""
    from pydoc_data.topics import topics
    train, val = [], []
    for name in sorted(topics):
        doc = topics[name]
        cut = int(round(len(doc) * (1 - val_fraction)))
        train.append(doc[:cut])
        val.append(doc[cut:])
    return "\n".join(train), "\n".join(val)


class Vocab:
    """The characters of a text, sorted; ``encode`` (str -> list of ids), ``decode``."""

    def __init__(self, chars):
        self.chars = "".join(sorted(set(chars)))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        """A list of ids; a character the vocabulary lacks raises KeyError naming it."""
        try:
            return [self.index[c] for c in text]
        except KeyError as e:
            raise KeyError(f"character {e.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids):
        """The text of a sequence of ids (an id out of range raises IndexError)."""
        return "".join(self.chars[i] for i in ids)


def unigram_entropy(text):
    """-sum_c p(c) log2 p(c) over the characters of ``text``: bits per character."""
    counts = collections.Counter(text)
    n = len(text)
    return -sum(k / n * math.log2(k / n) for k in counts.values())


def random_batch(ids, block, batch_size, generator):
    """(x, y) (batch_size, block) int64: windows at random starts, y shifted by one."""
    starts = tg.randint(0, ids.shape[0] - block, (batch_size, 1), generator=generator)
    window = ids[starts + tg.arange(block + 1)]
    return window[:, :-1], window[:, 1:]


def windows(ids, block, limit=None):
    """(x, y) of every whole window of ``block`` characters in ``ids`` (back to back), or
    of ``limit`` of them evenly spaced."""
    n = (ids.shape[0] - 1) // block
    x = ids[:n * block].reshape(n, block)
    y = ids[1:n * block + 1].reshape(n, block)
    if limit is not None and limit < n:
        keep = tg.tensor([i * n // limit for i in range(limit)], dtype=tg.int64)
        x, y = x[keep], y[keep]
    return x, y


def evaluate(model, x, y, batch_size=128, device="cpu", prec=None):
    """Mean cross-entropy of ``model`` on windows (x, y) in bits per character (eval mode,
    no recording, every window from a fresh state)."""
    was_training = model.training
    model.eval()
    total = 0.0
    with tg.no_grad():
        for i in range(0, x.shape[0], batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            with prec.autocast() if prec is not None else contextlib.nullcontext():
                logits, _ = model(xb)
            total += float(nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), yb.reshape(-1), reduction="sum"))
    model.train(was_training)
    return total / (x.numel() * LN2)


# -- training ---------------------------------------------------------------------------------
def train(model="transformer", steps=None, batch_size=None, block=None, lr=None, seed=0,
          out=None, plot=True, quiet=False, threads=1, device="cpu", amp=None,
          eval_every=None, eval_windows=128, sample_chars=240, prompt="The ",
          temperature=0.8, **model_kw):
    """Train and return a dict of metrics: ``val_bpc`` (every validation window),
    ``unigram_bpc``, the ``history`` of (step, train bpc, validation bpc on the subset),
    ``samples`` (the generated text), ``n_params``, ``seconds``, the ``net``, its ``vocab``
    and the paths written (when ``out`` is given). Arguments left None take DEFAULTS of the
    model; ``model_kw`` overrides the model's sizes (d_model, nhead, layers, ff, dropout,
    positions, tie for the Transformer; embed, hidden, layers, dropout for the LSTM).
    ``threads`` caps the BLAS threads (None: the library's default); ``amp`` is None, "bf16"
    or "fp16" (tapegrad.examples.amp). Raises ValueError for an unknown model or option."""
    if model not in DEFAULTS:
        raise ValueError(f"unknown model {model!r}; use 'transformer' or 'lstm'")
    d = DEFAULTS[model]
    cfg = {"kind": model, "block": block or d["block"], "model": {**d["model"], **model_kw}}
    with blas_threads(threads), _num_threads(threads):
        return _train(cfg, steps or d["steps"], batch_size or d["batch_size"], lr or d["lr"],
                      seed, out, plot, quiet, tg.device(device), Precision(amp, device),
                      eval_every, eval_windows, sample_chars, prompt, temperature)


@contextlib.contextmanager
def _num_threads(n):
    """``tg.set_num_threads(n)`` for the block, then the previous count back (None: no
    change). threadpoolctl's limit alone is not enough: tapegrad sizes the BLAS pools per
    product (tg.set_num_threads), and would give its larger products two threads again."""
    if n is None:
        yield
        return
    before = tg.get_num_threads()
    tg.set_num_threads(n)
    try:
        yield
    finally:
        tg.set_num_threads(before)


def _lr_lambda(steps):
    warmup = max(1, steps // 20)

    def f(step):   # linear warm-up, then cosine down to a tenth
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.45 * (1 + math.cos(math.pi * min(t, 1.0)))
    return f


def _train(cfg, steps, batch_size, lr, seed, out, plot, quiet, device, prec, eval_every,
           eval_windows, sample_chars, prompt, temperature):
    t0 = time.perf_counter()
    tg.manual_seed(seed)
    train_text, val_text = load_text()
    vocab = Vocab(train_text + val_text)
    cfg["chars"] = vocab.chars
    train_ids = tg.tensor(vocab.encode(train_text), dtype=tg.int64)
    val_ids = tg.tensor(vocab.encode(val_text), dtype=tg.int64)
    block = cfg["block"]
    val_x, val_y = windows(val_ids, block)
    sub_x, sub_y = windows(val_ids, block, eval_windows)
    net = make_model(cfg["kind"], len(vocab), block, **cfg["model"]).to(device)
    decay = [p for n, p in net.named_parameters() if p.ndim >= 2 and "tok" not in n
             and "pos" not in n]
    others = [p for p in net.parameters() if all(p is not q for q in decay)]
    opt = tg.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                          {"params": others, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.99))
    sched = tg.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(steps))
    gen = tg.Generator(seed)
    eval_every = eval_every or max(1, steps // 10)
    history = {"step": [], "train_bpc": [], "val_bpc": []}
    bar = _progress(steps, quiet)
    run_loss, run_n = 0.0, 0
    for step in range(1, steps + 1):
        xb, yb = random_batch(train_ids, block, batch_size, gen)
        xb, yb = xb.to(device), yb.to(device)
        with prec.autocast():
            logits, _ = net(xb)
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                               yb.reshape(-1))
        opt.zero_grad()
        prec.scaler.scale(loss).backward()
        prec.scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        prec.scaler.step(opt)
        prec.scaler.update()
        sched.step()
        run_loss += float(loss) / LN2
        run_n += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(bpc=f"{run_loss / run_n:.3f}")
        if step % eval_every == 0 or step == steps:
            val = evaluate(net, sub_x, sub_y, device=device, prec=prec)
            history["step"].append(step)
            history["train_bpc"].append(run_loss / run_n)
            history["val_bpc"].append(val)
            msg = f"step {step:5d}/{steps}: train {run_loss / run_n:.3f} bpc | val {val:.3f} bpc"
            run_loss, run_n = 0.0, 0
            if bar is not None:
                bar.write(msg)
            elif not quiet:
                print(msg, flush=True)
    if bar is not None:
        bar.close()
    val_bpc = evaluate(net, val_x, val_y, device=device, prec=prec)
    text = sample(net, vocab.encode, vocab.decode, prompt, sample_chars, temperature,
                  tg.Generator(seed), device) if sample_chars else ""
    result = {"model": cfg["kind"], "config": cfg, "steps": steps, "seed": seed,
              "amp": prec.amp, "val_bpc": val_bpc, "unigram_bpc": unigram_entropy(train_text),
              "history": history, "samples": text, "n_params": sum(p.numel() for p in
                                                                  net.parameters()),
              "n_train": len(train_text), "n_val": val_x.numel(), "net": net, "vocab": vocab,
              "device": str(device)}
    if out is not None:
        os.makedirs(out, exist_ok=True)
        result["weights"] = os.path.join(out, f"charlm_{cfg['kind']}.tg")
        tg.save({"model": net.state_dict(), "config": cfg, "steps": steps, "seed": seed,
                 "val_bpc": val_bpc}, result["weights"])
        if plot:
            result["plot"] = plot_curves(history, result["unigram_bpc"],
                                         os.path.join(out, f"charlm_{cfg['kind']}_curves.png"),
                                         title=f"tapegrad {cfg['kind']} on the pydoc topics")
    result["seconds"] = time.perf_counter() - t0
    return result


def load(path, device="cpu"):
    """(model in eval mode, Vocab) from a checkpoint ``train(out=...)`` wrote."""
    ckpt = tg.load(path)
    cfg = ckpt["config"]
    vocab = Vocab(cfg["chars"])
    net = make_model(cfg["kind"], len(vocab), cfg["block"], **cfg["model"])
    net.load_state_dict(ckpt["model"])
    return net.to(device).eval(), vocab


def validation_bpc(net, vocab, block, device="cpu"):
    """The validation loss (bits per character, every window) of a model and vocabulary,
    as ``train`` measures its final ``val_bpc``."""
    x, y = windows(tg.tensor(vocab.encode(load_text()[1]), dtype=tg.int64), block)
    return evaluate(net, x, y, device=device)


def plot_curves(history, unigram, path, title=""):
    """Training and validation bits per character against the step, with the unigram
    entropy as a line; returns the path (None without matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot", file=sys.stderr)
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history["step"], history["train_bpc"], "o-", label="train (mean since last point)")
    ax.plot(history["step"], history["val_bpc"], "s-", label="validation (subset)")
    ax.axhline(unigram, color="gray", ls="--", label=f"unigram entropy {unigram:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(prog="tapegrad-charlm", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(DEFAULTS), default="transformer")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps (default: 1200 for either model)")
    p.add_argument("--batch-size", type=int, default=None, help="windows per step (32)")
    p.add_argument("--block", type=int, default=None, help="characters per window (64)")
    p.add_argument("--lr", type=float, default=None,
                   help="AdamW's peak learning rate (3e-3 transformer, 5e-3 lstm)")
    p.add_argument("--seed", type=int, default=0, help="seeds init, batches, dropout, samples")
    p.add_argument("--positions", choices=("learned", "sinusoidal"), default="learned",
                   help="the Transformer's position encoding")
    p.add_argument("--no-tie", action="store_true",
                   help="give the Transformer's head its own weights (default: tied to the "
                        "token embedding)")
    p.add_argument("--out", default="charlm_out", help="folder for the weights and the plot")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (default 1; 0 keeps the BLAS library's default)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:<index>")
    add_amp_argument(p)
    p.add_argument("--prompt", default="The ", help="text the samples start from")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    p.add_argument("--sample-chars", type=int, default=240, help="characters to sample")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bar or eval lines")
    a = p.parse_args(argv)
    kw = {}
    if a.model == "transformer":
        kw = {"positions": a.positions, "tie": not a.no_tie}
    r = train(model=a.model, steps=a.steps, batch_size=a.batch_size, block=a.block, lr=a.lr,
              seed=a.seed, out=a.out, plot=not a.no_plot, quiet=a.quiet,
              threads=a.threads or None, device=a.device, amp=a.amp, prompt=a.prompt,
              temperature=a.temperature, sample_chars=a.sample_chars, **kw)
    print(f"{a.model} ({r['n_params']:,} parameters), {r['steps']} steps on {r['device']}"
          f"{' with ' + a.amp + ' autocast' if a.amp else ''} in {r['seconds']:.1f} s")
    print(f"validation: {r['val_bpc']:.3f} bits per character over {r['n_val']:,} characters "
          f"(unigram entropy of the text: {r['unigram_bpc']:.3f})")
    print(f"saved weights to {r['weights']}"
          + (f" and the curves to {r['plot']}" if r.get("plot") else ""))
    if r["samples"]:
        print(f"\nsampled at temperature {a.temperature}:")
        for line in r["samples"].splitlines()[:6]:
            print("  " + line)
    return r


def cli():
    """Console-script entry point (``tapegrad-charlm``): exit status 0 on success."""
    main()
    return 0


if __name__ == "__main__":
    main()
