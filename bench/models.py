"""The model registry: torchvision ResNet-18/34/50 for 1x28x28 inputs and the He et al. CIFAR ResNets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models as tv

from bench.spec import CIFAR_RESNETS, TORCHVISION_RESNETS

NUM_CLASSES = 10
INPUT_SHAPE = (1, 28, 28)


class _OptionABlock(nn.Module):
    """He et al. (2016) CIFAR basic block with shortcut option A: identity, or stride-2
    subsampling plus zero-padded channels when the shape changes (adds no parameters)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = cout - cin
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + shortcut)


class CifarResNet(nn.Module):
    """ResNet-(6n+2): a 3x3 16-filter stem, three stages of n blocks with 16/32/64 filters,
    global average pooling and a linear classifier."""

    def __init__(self, n: int, in_channels: int = 1, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(_OptionABlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _torchvision(name: str, stem: str) -> nn.Module:
    model = getattr(tv, name)(weights=None, num_classes=NUM_CLASSES)
    if stem == "cifar":  # 3x3 stride-1 stem and no max-pool, for small images
        model.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    else:  # the standard 7x7 stride-2 stem, with one input channel
        model.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    return model


def build(name: str, stem: str = "standard") -> nn.Module:
    """A freshly initialised model (seed torch before calling for reproducible weights)."""
    if name in TORCHVISION_RESNETS:
        return _torchvision(name, stem)
    if name in CIFAR_RESNETS:
        return CifarResNet(n=(int(name.removeprefix("resnet")) - 2) // 6)
    raise KeyError(name)
