"""A small convolutional classifier in the style of PyTorch's MNIST example, on synthetic
12x12 images (ten noisy prototypes) made by a Dataset class: DataLoader with shuffling and
samplers, random_split, Conv2d/max-pooling/dropout, Adadelta with a StepLR schedule,
accuracy by argmax, and the state dict saved at the end.

    python classifier.py [--epochs N] [--save-model]
"""
import argparse
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler, random_split


class NoisyPrototypes(Dataset):
    """``size`` images of one channel: one of ten fixed random patterns plus noise."""

    def __init__(self, size, noise=0.6, seed=0, transform=None):
        g = torch.Generator().manual_seed(seed)
        self.prototypes = (torch.rand(10, 1, 12, 12, generator=g) > 0.5).float()
        self.labels = torch.randint(0, 10, (size,), generator=g)
        self.noise = torch.randn(size, 1, 12, 12, generator=g) * noise
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        label = int(self.labels[idx])
        image = self.prototypes[label] + self.noise[idx]
        if self.transform is not None:
            image = self.transform(image)
        return image, label


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(256, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def train(args, model, device, train_loader, optimizer, epoch, losses):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % args.log_interval == 0:
            print("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    print("\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n".format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))
    return test_loss, correct / len(test_loader.dataset)


def main(argv=None):
    parser = argparse.ArgumentParser(description="synthetic-image classifier")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--test-batch-size", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7)
    parser.add_argument("--no-accel", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=10)
    parser.add_argument("--save-model", action="store_true")
    parser.add_argument("--out-dir", default=None)
    args = parser.parse_args(argv)

    use_accel = not args.no_accel and torch.accelerator.is_available()
    torch.manual_seed(args.seed)
    device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")

    train_kwargs = {"batch_size": args.batch_size}
    test_kwargs = {"batch_size": args.test_batch_size}
    if use_accel:
        accel_kwargs = {"num_workers": 1, "pin_memory": True}
        train_kwargs.update(accel_kwargs)
        test_kwargs.update(accel_kwargs)

    def normalize(x):
        return (x - 0.5) / 0.5

    dataset = NoisyPrototypes(600, transform=normalize)
    train_set, held_out = random_split(dataset, [0.8, 0.2],
                                       generator=torch.Generator().manual_seed(42))
    train_loader = DataLoader(train_set, sampler=RandomSampler(train_set), **train_kwargs)
    test_loader = DataLoader(held_out, sampler=SequentialSampler(held_out), **test_kwargs)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    losses, tests = [], []
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch, losses)
        tests.append(test(model, device, test_loader))
        scheduler.step()

    if args.save_model:
        path = os.path.join(args.out_dir or tempfile.mkdtemp(), "synthetic_cnn.pt")
        torch.save(model.state_dict(), path)
        restored = Net()
        restored.load_state_dict(torch.load(path))
        restored.eval()
        model.eval()
        x = next(iter(test_loader))[0]
        assert torch.equal(restored(x), model(x))
    return {"losses": losses, "tests": tests, "lr": scheduler.get_last_lr()[0]}


if __name__ == "__main__":
    main()
