"""Every registry model: forward shape, parameter count and MACs, cross-checked with torch's counter."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench import cost, models
from bench.spec import RESNETS

EXPECTED_PARAMS = {  # trainable parameters at 1x28x28, 10 classes
    "resnet18": 11_175_370, "resnet34": 21_283_530, "resnet50": 23_522_250,
    "resnet20": 269_434, "resnet32": 463_866, "resnet44": 658_298, "resnet56": 852_730,
}


@pytest.mark.parametrize("name", RESNETS)
def test_forward_shape_and_parameters(name):
    model = models.build(name).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMS[name]
    assert cost.model_cost(name)[1] == EXPECTED_PARAMS[name]


def test_headline_numbers():
    macs, params = cost.model_cost("resnet18")
    assert 32e6 < macs < 34e6 and round(params / 1e6, 2) == 11.18
    assert round(cost.model_cost("resnet32")[1] / 1e6, 2) == 0.46
    assert cost.model_cost("resnet18", "cifar")[0] > 10 * macs  # no downsampling stem: 28x28 maps


@pytest.mark.parametrize("name,stem", [(n, "standard") for n in RESNETS] + [("resnet18", "cifar")])
def test_conv_and_linear_macs_match_torch_flop_counter(name, stem):
    """ptflops (pinned backend) counts conv+linear MACs like torch.utils.flop_counter (FLOPs = 2 x MACs);
    ptflops adds the classifier bias (10) and BN/ReLU/pooling, so its total is slightly above."""
    import io

    from ptflops import get_model_complexity_info
    from torch import nn

    model = models.build(name, stem).eval()
    conv_linear, _ = get_model_complexity_info(
        model, models.INPUT_SHAPE, as_strings=False, print_per_layer_stat=False, backend=cost.PTFLOPS_BACKEND,
        ignore_modules=[nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d],
        backend_specific_config={"count_functional": False}, ost=io.StringIO())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, *models.INPUT_SHAPE))
    assert conv_linear == pytest.approx(counter.get_total_flops() / 2, rel=1e-6)
    total, _ = cost.model_cost(name, stem)
    assert conv_linear <= total < 1.02 * conv_linear


def test_cifar_stem_variant_replaces_stem_and_pool():
    model = models.build("resnet18", "cifar")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, torch.nn.Identity)
