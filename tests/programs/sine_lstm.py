"""Learn sine waves with two stacked LSTM cells, trained by L-BFGS on the whole set at once,
then extrapolate ``--future`` steps past the end of each test wave, in PyTorch's idiom.

    python sine_lstm.py [--steps N] [--data traindata.pt]
"""
import argparse
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


def generate_sine_waves(path, period=20, length=100, count=24, seed=2):
    """``count`` sine waves of ``length`` samples, each shifted by a random phase, saved
    with torch.save to ``path`` (as a tensor: torch.load's weights_only default takes no
    NumPy arrays)."""
    rng = np.random.RandomState(seed)
    steps = np.arange(length) + rng.randint(-4 * period, 4 * period, count).reshape(count, 1)
    data = np.sin(steps / 1.0 / period).astype("float64")
    torch.save(torch.from_numpy(data), path)


class Sequence(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.hidden = hidden
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)

        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):   # if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3, help="L-BFGS steps")
    parser.add_argument("--future", type=int, default=50)
    parser.add_argument("--data", default=None, help="where the waves are saved")
    parser.add_argument("--length", type=int, default=100, help="samples per wave")
    args = parser.parse_args(argv)
    np.random.seed(0)
    torch.manual_seed(0)
    path = args.data or os.path.join(tempfile.mkdtemp(), "traindata.pt")
    generate_sine_waves(path, length=args.length)

    data = torch.load(path)
    input = data[3:, :-1]
    target = data[3:, 1:]
    test_input = data[:3, :-1]
    test_target = data[:3, 1:]
    seq = Sequence()
    seq.double()
    criterion = nn.MSELoss()
    # L-BFGS: the whole data set fits in one batch
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
    losses, test_losses = [], []
    for i in range(args.steps):
        print("STEP: ", i)

        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            print("loss:", loss.item())
            losses.append(loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
        # begin to predict, no need to track gradient here
        with torch.no_grad():
            pred = seq(test_input, future=args.future)
            loss = criterion(pred[:, :-args.future], test_target)
            print("test loss:", loss.item())
            test_losses.append(loss.item())
            y = pred.detach().numpy()
    assert y.shape == (3, test_input.size(1) + args.future)
    return {"losses": losses, "test_losses": test_losses}


if __name__ == "__main__":
    main()
