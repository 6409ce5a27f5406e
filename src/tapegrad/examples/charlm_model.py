"""The models of ``tapegrad.examples.charlm`` and temperature sampling from them.

Both map a (B, T) int64 batch of character ids to (B, T, vocab) logits of the next
character, and take and return a recurrent state (None for the Transformer), so the
training loop, the evaluation and the sampler treat them alike.
"""
import math

import tapegrad as tg
from tapegrad import nn


def sinusoidal_positions(length, d_model):
    """The (length, d_model) table of "Attention Is All You Need": position p, feature 2i
    is sin(p / 10000^(2i / d)) and feature 2i + 1 is cos of the same (d_model even)."""
    if d_model % 2:
        raise ValueError(f"sinusoidal positions need an even d_model, got {d_model}")
    pos = tg.arange(length, dtype=tg.float32).unsqueeze(1)
    freq = tg.exp(tg.arange(0, d_model, 2, dtype=tg.float32) * (-math.log(10000.0) / d_model))
    angles = pos * freq                                       # (length, d_model / 2)
    return tg.stack([angles.sin(), angles.cos()], dim=-1).reshape(length, d_model)


class TransformerLM(nn.Module):
    """A decoder-only Transformer: token embedding plus positions (learned, or the fixed
    sinusoidal table), ``layers`` pre-LayerNorm ``nn.TransformerEncoderLayer`` blocks
    (ReLU) under a causal mask, a final LayerNorm and a linear head onto the vocabulary,
    tied to the token embedding when ``tie`` (one matrix for both, as GPT-2).

    forward(idx (B, T) int64, state=None) -> (logits (B, T, vocab), None); T <= block.
    Raises ValueError for a T longer than ``block`` or an unknown ``positions``.
    """

    recurrent = False

    def __init__(self, vocab, block, d_model=128, nhead=4, layers=2, ff=512, dropout=0.1,
                 positions="learned", tie=True):
        super().__init__()
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}")
        self.block, self.positions = block, positions
        self.tok = nn.Embedding(vocab, d_model)
        nn.init.normal_(self.tok.weight, std=0.02)    # GPT-2's scale: logits start near 0
        if positions == "learned":
            self.pos = nn.Embedding(block, d_model)
            nn.init.normal_(self.pos.weight, std=0.02)
        else:
            self.register_buffer("pos_table", sinusoidal_positions(block, d_model),
                                 persistent=False)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, ff, dropout, activation="relu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab, bias=False)
        if tie:
            self.head.weight = self.tok.weight
        self.register_buffer("causal_mask", nn.Transformer.generate_square_subsequent_mask(
            block), persistent=False)

    def forward(self, idx, state=None):
        t = idx.shape[1]
        if t > self.block:
            raise ValueError(f"TransformerLM: {t} positions, more than its block ({self.block})")
        if self.positions == "learned":
            pos = self.pos.weight[:t]
        else:
            pos = self.pos_table[:t]
        x = self.drop(self.tok(idx) + pos)
        x = self.encoder(x, mask=self.causal_mask[:t, :t], is_causal=True)
        return self.head(x), None


class LSTMLM(nn.Module):
    """Token embedding, an ``nn.LSTM`` (batch_first, dropout between layers) and a linear
    head. forward(idx (B, T) int64, state=None) -> (logits (B, T, vocab), (h, c))."""

    recurrent = True

    def __init__(self, vocab, embed=64, hidden=256, layers=1, dropout=0.0):
        super().__init__()
        self.tok = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):
        out, state = self.lstm(self.tok(idx), state)
        return self.head(out), state


def make_model(kind, vocab, block, **kw):
    """TransformerLM (``kind`` "transformer") or LSTMLM ("lstm") with keyword sizes."""
    if kind == "transformer":
        return TransformerLM(vocab, block, **kw)
    if kind == "lstm":
        return LSTMLM(vocab, **kw)
    raise ValueError(f"unknown model {kind!r}; use 'transformer' or 'lstm'")


def sample(model, encode, decode, prompt, length, temperature=0.8, generator=None,
           device="cpu"):
    """``prompt`` followed by ``length`` characters drawn one at a time from
    softmax(logits / temperature) (eval mode, no recording). The Transformer sees the last
    ``block`` characters each step; the LSTM carries its state and reads one new character
    per step. ``encode``/``decode`` map str <-> list of ids."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    was_training = model.training
    model.eval()
    ids = encode(prompt)
    state, feed = None, ids
    with tg.no_grad():
        for _ in range(length):
            if not model.recurrent:
                feed = ids[-model.block:]
            logits, state = model(tg.tensor([feed], dtype=tg.int64, device=device), state)
            probs = (logits[0, -1].float() / temperature).softmax(dim=-1)
            nxt = int(tg.multinomial(probs.cpu(), 1, generator=generator))
            ids.append(nxt)
            feed = [nxt]
    model.train(was_training)
    return decode(ids)
