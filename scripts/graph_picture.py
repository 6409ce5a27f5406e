"""Render the README's picture of a graph: python scripts/graph_picture.py docs/graph.png"""
import sys

import tapegrad as tg
import tapegrad.nn as nn

tg.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
x = tg.randn(5, 4)
target = tg.tensor([0, 1, 1, 0, 1])
loss = nn.functional.cross_entropy(model(x), target)
tg.debug.draw(loss, sys.argv[1] if len(sys.argv) > 1 else "docs/graph.png",
              params=dict(model.named_parameters()))
