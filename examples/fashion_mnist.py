"""Fashion-MNIST, written the way a PyTorch user writes it: only the imports below are tinycnn's.

    python examples/fashion_mnist.py                        # 10 epochs; Debian: apt install dataset-fashion-mnist
    python examples/fashion_mnist.py --data DIR --epochs 2  # DIR holds the four IDX files (.gz or not)
    python examples/fashion_mnist.py --resume               # go on from the last checkpoint

In PyTorch the import block reads

    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch import optim
    from torch.utils.data import DataLoader, random_split
    from torchvision import datasets, transforms

and nothing else in this file changes. A checkpoint is written after every epoch; ``--resume`` (after the run
was killed, say) goes on from it and ends with the figures an uninterrupted run gives, bit for bit.
"""

import argparse
import os
from pathlib import Path

import tinycnn as torch
import tinycnn.nn as nn
import tinycnn.functional as F
from tinycnn import optim
from tinycnn.data import DataLoader, random_split
from tinycnn.data import datasets, transforms

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"  # apt install dataset-fashion-mnist
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(64)
        self.dropout = nn.Dropout(0.25)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.bn3(self.conv3(x)))
        x = self.dropout(self.pool(x))
        return self.fc(torch.flatten(x, 1))


def train_one_epoch(model, loader, criterion, optimizer, scheduler, device, limit):
    model.train()
    total_loss, batches = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item()
        batches += 1
        if limit and batches == limit:
            break
    return total_loss / batches


def evaluate(model, loader, device, limit):
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for batch, (images, labels) in enumerate(loader):
            if limit and batch == limit:
                break
            outputs = model(images.to(device))
            predicted = outputs.argmax(dim=1)
            correct += (predicted == labels.to(device)).sum().item()
            total += labels.size(0)
    return correct / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("FASHION_MNIST", DEBIAN_FASHION_MNIST))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checkpoint", default="examples/runs/fashion_mnist.pt")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--limit-batches", type=int, default=0, help="stop each epoch after this many batches")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    train_transform = transforms.Compose([
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((0.2860,), (0.3530,)),
    ])
    test_transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    full_train = datasets.FashionMNIST(args.data, train=True, transform=train_transform)
    test_set = datasets.FashionMNIST(args.data, train=False, transform=test_transform)
    train_set, val_set = random_split(full_train, [55000, 5000], generator=torch.Generator().manual_seed(42))

    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, num_workers=2)
    val_loader = DataLoader(val_set, batch_size=1000)
    test_loader = DataLoader(test_set, batch_size=1000)

    model = Net().to(device)
    decay = [p for name, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for name, p in model.named_parameters() if p.ndim <= 1]  # biases and BatchNorm's weights
    optimizer = optim.AdamW([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr)
    steps_per_epoch = args.limit_batches or len(train_loader)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                              steps_per_epoch=steps_per_epoch)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    start_epoch = 0
    if args.resume and Path(args.checkpoint).exists():
        checkpoint = torch.load(args.checkpoint)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        torch.set_rng_state(checkpoint["rng_state"])
        start_epoch = checkpoint["epoch"] + 1
        print(f"resumed from {args.checkpoint} after epoch {checkpoint['epoch'] + 1}")

    for epoch in range(start_epoch, args.epochs):
        loss = train_one_epoch(model, train_loader, criterion, optimizer, scheduler, device, args.limit_batches)
        val_accuracy = evaluate(model, val_loader, device, args.limit_batches)
        print(f"epoch {epoch + 1}: train loss {loss:.4f}, validation accuracy {100 * val_accuracy:.2f} %")
        Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "rng_state": torch.get_rng_state()}, args.checkpoint)

    test_accuracy = evaluate(model, test_loader, device, args.limit_batches)
    print(f"test accuracy {100 * test_accuracy:.2f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
