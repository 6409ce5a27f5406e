"""``--amp bf16|fp16`` for the example training jobs: one flag, one object.

    add_amp_argument(parser)                       # --amp {bf16,fp16}
    prec = Precision(args.amp, device)
    with prec.autocast():
        loss = loss_fn(net(xb), yb)
    prec.step(loss, opt)                           # backward, (un)scale, step, update

bf16 runs under ``tg.autocast`` alone (bfloat16 has float32's range); fp16 adds a
``tg.amp.GradScaler`` (float16 gradients underflow without loss scaling). Without
``--amp`` both are pass-throughs, so a job's loop is the same in every precision.
"""
import tapegrad as tg

DTYPES = {"bf16": tg.bfloat16, "fp16": tg.float16}


def add_amp_argument(parser):
    """Add ``--amp {bf16,fp16}`` to an argparse parser (default: float32 throughout)."""
    parser.add_argument("--amp", choices=sorted(DTYPES), default=None,
                        help="mixed precision: bf16 (autocast) or fp16 (autocast and loss "
                             "scaling); products run in the low dtype, parameters stay float32")


class Precision:
    """The autocast context and loss scaler for ``amp`` (None, "bf16" or "fp16") on
    ``device`` (a tg.device or string)."""

    def __init__(self, amp=None, device="cpu"):
        if amp is not None and amp not in DTYPES:
            raise ValueError(f"amp must be one of {sorted(DTYPES)} or None, got {amp!r}")
        self.amp = amp
        self.device_type = tg.device(device).type
        self.scaler = tg.amp.GradScaler(str(tg.device(device)), enabled=amp == "fp16")

    def autocast(self):
        """A context running the forward pass in the chosen precision (a no-op for None)."""
        return tg.autocast(self.device_type, dtype=DTYPES.get(self.amp),
                           enabled=self.amp is not None)

    def step(self, loss, optimizer):
        """``loss.backward()`` and ``optimizer.step()``, through the scaler for fp16 (the
        step is skipped when a gradient is inf or NaN). Returns whether it stepped."""
        before = self.scaler.get_scale()
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()
        return not self.scaler.is_enabled() or self.scaler.get_scale() >= before
