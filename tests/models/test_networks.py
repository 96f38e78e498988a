"""Activations, model configs and the three network families."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lepton.models import (
    ACTIVATIONS,
    CNN,
    MLP,
    ModelConfig,
    ResNet,
    build_model,
    check_activation,
    get_activation,
)
from lepton.models.networks import rescale_outputs

KNOWN = ", ".join(sorted(ACTIVATIONS))


# -- activations -----------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_builds_and_runs(name):
    act = get_activation(name)
    assert isinstance(act, nn.Module)
    x = torch.linspace(-3, 3, 13).reshape(1, 13)
    out = act(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert get_activation(name) is not act  # a fresh module each time
    # and inside a network, forward and backward
    model = build_model({"layers": [{"width": 4, "activation": name}]}, 3, 2)
    model(torch.randn(5, 3)).sum().backward()


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"activation='relux' is not a known activation; "
                                         r"choose one of " + KNOWN):
        get_activation("relux")
    with pytest.raises(ValueError, match=r"layer_act=3 is not a known activation"):
        check_activation(3, where="layer_act")
    assert check_activation("gelu") == "gelu"


# -- configs -----------------------------------------------------------------------------
def test_config_round_trip():
    d = {"family": "mlp", "layers": [{"width": 8, "activation": "gelu"}, {"width": 4}],
         "normalization": "layer", "dropout": 0.1, "residual": True}
    cfg = ModelConfig.from_dict(d)
    assert cfg.layers[1].activation == "relu"
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert "conv_channels" not in cfg.to_dict()
    assert ModelConfig.from_dict(cfg) is cfg


@pytest.mark.parametrize("config, match", [
    ({"layers": [{"width": 4}, {"width": 4}, {"width": 4, "activation": "relux"}]},
     r"model\.layers\[2\]\.activation='relux' is not a known activation; choose one of " + KNOWN),
    ({"layers": [{"width": 0}]}, r"model\.layers\[0\]\.width=0 must be an integer in \[1, "
                                 r"65536\]"),
    ({"layers": [{"width": 10**9}]}, r"width=1000000000 must be an integer in \[1, 65536\]"),
    ({"layers": [{"width": True}]}, r"model\.layers\[0\]\.width=True must be an integer"),
    ({"layers": [{"width": 4, "act": "relu"}]},
     r"model\.layers\[0\] has unknown key\(s\) \['act'\]; accepted: width, activation"),
    ({"layers": [8]}, r"model\.layers\[0\]=8 must be a mapping"),
    ({"layers": "8,8"}, r"model\.layers must be a list"),
    ({"family": "transformer"}, r"model\.family='transformer' is not one of mlp, resnet, cnn"),
    ({"normalization": "group"}, r"model\.normalization='group' is not one of none, batch, layer"),
    ({"dropout": 1.0}, r"model\.dropout=1\.0 must be a number in \[0, 1\)"),
    ({"width": 8}, r"model has unknown key\(s\) \['width'\]; accepted keys are"),
    ({"family": "cnn", "layers": []}, r"model\.conv_channels must list at least one block"),
    ({"family": "resnet"}, r"model\.layers must list at least one block for family 'resnet'"),
    ({"family": "cnn", "conv_channels": [8, -1]},
     r"model\.conv_channels\[1\]=-1 must be a positive"),
    ({"family": "cnn", "conv_channels": [8], "kernel_size": 4}, r"model\.kernel_size=4 must be"),
    # bool('no') is True: a string was read as on
    ({"residual": "false"}, r"model\.residual='false' must be true or false"),
    ({"family": "cnn", "conv_channels": [8], "pool": "no"}, r"model\.pool='no' must be true or"),
])
def test_config_errors_give_the_key_path(config, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig.from_dict(config)


def test_config_error_uses_the_callers_path():
    with pytest.raises(ValueError, match=r"architecture\.layers\[0\]\.activation='x'"):
        ModelConfig.from_dict({"layers": [{"width": 2, "activation": "x"}]}, where="architecture")
    with pytest.raises(TypeError, match="model must be a mapping, got list"):
        ModelConfig.from_dict([1, 2])


# -- networks ----------------------------------------------------------------------------
def test_mlp_output_shape_and_layers():
    model = build_model({"layers": [{"width": 16}, {"width": 8, "activation": "tanh"}],
                         "normalization": "batch", "dropout": 0.2}, 10, 3)
    assert isinstance(model, MLP)
    assert [b.linear.out_features for b in model.blocks] == [16, 8]
    assert isinstance(model.blocks[1].act, nn.Tanh)
    assert isinstance(model.blocks[0].norm, nn.BatchNorm1d)
    assert model(torch.randn(7, 10)).shape == (7, 3)


def test_mlp_without_hidden_layers_is_linear():
    model = build_model({"layers": []}, 5, 2)
    assert isinstance(model.head, nn.Linear) and len(model.blocks) == 0
    assert model(torch.randn(3, 5)).shape == (3, 2)


def test_residual_mlp_projects_when_widths_differ():
    model = build_model({"layers": [{"width": 10}, {"width": 10}, {"width": 4}],
                         "residual": True}, 10, 2)
    skips = [b.skip for b in model.blocks]
    assert isinstance(skips[0], nn.Identity) and isinstance(skips[1], nn.Identity)
    assert isinstance(skips[2], nn.Linear) and skips[2].bias is None
    assert (skips[2].in_features, skips[2].out_features) == (10, 4)
    assert model(torch.randn(6, 10)).shape == (6, 2)
    # the skip really is added: with the block's linear zeroed, the block is skip(x)
    block = model.blocks[2]
    with torch.no_grad():
        block.linear.weight.zero_()
        block.linear.bias.zero_()
    x = torch.randn(4, 10)
    torch.testing.assert_close(block(x), block.skip(x))


def test_resnet_output_shape():
    model = build_model({"family": "resnet", "layers": [{"width": 16}, {"width": 32}],
                         "normalization": "layer", "dropout": 0.1}, 9, 4)
    assert isinstance(model, ResNet)
    assert model.stem.out_features == 16  # residual stream keeps the first layer's width
    assert model.blocks[1].lin1.out_features == 32
    assert model(torch.randn(5, 9)).shape == (5, 4)


@pytest.mark.parametrize("input_shape", [(8, 8), (1, 8, 8)])
def test_cnn_output_shape(input_shape):
    model = build_model({"family": "cnn", "conv_channels": [4, 8], "layers": [{"width": 16}],
                         "normalization": "batch"}, 64, 10, input_shape=input_shape)
    assert isinstance(model, CNN)
    assert model.input_shape == (1, 8, 8)
    out = model(torch.randn(3, 64))  # flattened (batch, C*H*W) as every model sees it
    assert out.shape == (3, 10)
    # 8x8 -> pool -> 4x4 -> pool -> 2x2 with 8 channels into the head
    assert model.head.blocks[0].linear.in_features == 8 * 2 * 2


def test_cnn_multichannel_input():
    model = build_model({"family": "cnn", "conv_channels": [4]}, 3 * 6 * 6, 2,
                        input_shape=(3, 6, 6))
    assert model(torch.randn(2, 108)).shape == (2, 2)


def test_cnn_needs_a_matching_input_shape():
    cfg = {"family": "cnn", "conv_channels": [4]}
    with pytest.raises(ValueError, match=r"family 'cnn' needs image-shaped input"):
        build_model(cfg, 64, 2)
    with pytest.raises(ValueError, match=r"input_shape=\[7, 7\] does not describe 64 input"):
        build_model(cfg, 64, 2, input_shape=(7, 7))


# -- periodic numeric embeddings -------------------------------------------------------
def test_periodic_embedding_widens_each_feature_and_trains():
    from lepton.models import PeriodicEmbedding

    embed = PeriodicEmbedding(3, n_frequencies=4, dim=5, scale=0.1)
    out = embed(torch.randn(7, 3))
    assert out.shape == (7, 15) and (out >= 0).all()  # ReLU outputs, 3 features x 5 values
    for family in ("mlp", "resnet"):
        model = build_model({"family": family, "layers": [{"width": 8}],
                             "numeric_embedding": "periodic", "embedding_dim": 5,
                             "embedding_frequencies": 4}, 3, 2)
        assert isinstance(model.embed, PeriodicEmbedding)
        first = model.blocks[0].linear if family == "mlp" else model.stem
        assert first.in_features == 15
        model(torch.randn(4, 3)).sum().backward()
        assert model.embed.frequencies.grad is not None  # the frequencies are learned


def test_periodic_embedding_fits_a_bump_a_linear_first_layer_struggles_with():
    # y = 1 inside a narrow band of x, else 0: periodic features fit it in few steps.
    torch.manual_seed(0)
    x = torch.rand(256, 1) * 2 - 1
    y = ((x > 0.1) & (x < 0.3)).float().squeeze(1)

    def final_loss(config):
        torch.manual_seed(0)
        model = build_model(config, 1, 1)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(300):
            loss = ((model(x).squeeze(1) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item()

    plain = final_loss({"layers": [{"width": 16}]})
    embedded = final_loss({"layers": [{"width": 16}], "numeric_embedding": "periodic",
                           "embedding_scale": 1.0})
    assert embedded < 0.5 * plain


def test_embedding_config_roundtrip_and_errors():
    cfg = ModelConfig.from_dict({"layers": [{"width": 8}], "numeric_embedding": "periodic",
                                 "embedding_dim": 4, "embedding_scale": 0.05})
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    plain = ModelConfig.from_dict({"layers": [{"width": 8}]}).to_dict()
    assert "numeric_embedding" not in plain and "embedding_dim" not in plain
    with pytest.raises(ValueError, match=r"model.numeric_embedding='plr' is not one of none, periodic"):
        ModelConfig.from_dict({"numeric_embedding": "plr"})
    with pytest.raises(ValueError, match=r"model.embedding_scale=0 must be a number in \(0, 100\]"):
        ModelConfig.from_dict({"numeric_embedding": "periodic", "embedding_scale": 0})
    with pytest.raises(ValueError, match=r"model.embedding_dim=0 must be an integer"):
        ModelConfig.from_dict({"numeric_embedding": "periodic", "embedding_dim": 0})
    with pytest.raises(ValueError, match=r"applies to families mlp and resnet only"):
        ModelConfig.from_dict({"family": "cnn", "conv_channels": [4],
                               "numeric_embedding": "periodic"})


@pytest.mark.parametrize("config, shape", [
    ({"family": "mlp", "layers": [{"width": 8}, {"width": 4}], "normalization": "batch"}, None),
    ({"family": "resnet", "layers": [{"width": 8}], "normalization": "layer"}, None),
    ({"family": "cnn", "conv_channels": [3], "layers": [{"width": 8}]}, (1, 4, 4)),
])
def test_rescale_outputs_gives_each_output_its_scale_and_shift(config, shape):
    """A fold's networks are trained on targets standardised by its own rows, then made
    to predict in the fit's units by their last linear layer (search train_on_folds)."""
    torch.manual_seed(0)
    model = build_model(config, 16, 2, input_shape=shape).eval()
    x = torch.randn(10, 16)
    with torch.no_grad():
        before = model(x)
        rescale_outputs(model, [2.0, 0.5], [-1.0, 3.0])
        after = model(x)
    torch.testing.assert_close(after, before * torch.tensor([2.0, 0.5])
                               + torch.tensor([-1.0, 3.0]))
