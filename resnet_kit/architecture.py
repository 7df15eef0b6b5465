"""ResNet-50 as data: the stem, the stage table, and what follows from them.

Everything the checks expect of ResNet-50 - block output shapes, layer counts, parameter
totals - is computed here from :data:`STAGES`, so the numbers are written once.
"""

from __future__ import annotations

import dataclasses
import math

from resnet_kit import reference as ref

__all__ = [
    "Stem",
    "Stage",
    "STEM",
    "STAGES",
    "F",
    "INPUT_SHAPE",
    "CLASSES",
    "conv_params",
    "bn_params",
    "block_params",
    "Block",
    "resnet50_blocks",
    "stem_output_shape",
    "resnet50_layer_counts",
    "resnet50_params",
    "stage_summary",
]


@dataclasses.dataclass(frozen=True)
class Stem:
    pad: int = 3  # ZeroPadding2D((3, 3))
    kernel: int = 7  # Conv2D(64, (7, 7), strides=(2, 2)), padding 'valid'
    filters: int = 64
    stride: int = 2
    pool: int = 3  # MaxPooling2D((3, 3), strides=(2, 2))
    pool_stride: int = 2


@dataclasses.dataclass(frozen=True)
class Stage:
    number: int  # conv2_x ... conv5_x: stages 2 to 5, as in the paper's table
    filters: tuple[int, int, int]
    blocks: int  # one convolutional block, then blocks - 1 identity blocks
    s: int  # stride of the convolutional block


STEM = Stem()
STAGES = (
    Stage(2, (64, 64, 256), 3, 1),
    Stage(3, (128, 128, 512), 4, 2),
    Stage(4, (256, 256, 1024), 6, 2),
    Stage(5, (512, 512, 2048), 3, 2),
)
F = 3  # the middle convolution's window in every block
INPUT_SHAPE = (64, 64, 3)
CLASSES = 6


def conv_params(k: int, c_in: int, filters: int, bias: bool = True) -> int:
    """A Conv2D with a k x k kernel: k*k*C_in*F weights, plus F biases if it has them."""
    return k * k * c_in * filters + (filters if bias else 0)


def bn_params(channels: int) -> int:
    """gamma, beta (trainable) + moving mean, moving variance (not trainable)."""
    return 4 * channels


def block_params(spec: ref.BlockSpec, in_channels: int, bias: bool = True) -> tuple[int, int]:
    """(total, non-trainable) parameters of a block: each conv followed by a BatchNorm."""
    convs, c = [], in_channels
    for conv in spec.main:
        convs.append((conv.kernel, c, conv.filters))
        c = conv.filters
    if spec.shortcut is not None:
        convs.append((spec.shortcut.kernel, in_channels, spec.shortcut.filters))
    total = sum(conv_params(k, cin, f, bias) + bn_params(f) for k, cin, f in convs)
    return total, sum(2 * f for _, _, f in convs)


@dataclasses.dataclass(frozen=True)
class Block:
    stage: Stage
    index: int  # 1-based, within the stage
    spec: ref.BlockSpec
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]

    @property
    def where(self) -> str:
        kind = "convolutional" if self.index == 1 else "identity"
        return (f"stage {self.stage.number}, block {self.index} ({kind} block, filters "
                f"{list(self.stage.filters)}" + (f", s={self.stage.s}" if self.index == 1 else "")
                + ")")


def stem_output_shape(input_shape=INPUT_SHAPE) -> tuple[int, int, int]:
    h, w, _ = input_shape
    size = [(n + 2 * STEM.pad - STEM.kernel) // STEM.stride + 1 for n in (h, w)]
    size = [(n - STEM.pool) // STEM.pool_stride + 1 for n in size]
    return (*size, STEM.filters)


def resnet50_blocks(input_shape=INPUT_SHAPE) -> list[Block]:
    """Every block in order, with the shape it reads and the shape it outputs."""
    blocks, shape = [], stem_output_shape(input_shape)
    for stage in STAGES:
        for index in range(1, stage.blocks + 1):
            if index == 1:
                spec = ref.convolutional_spec(F, list(stage.filters), stage.s)
            else:
                spec = ref.identity_spec(F, list(stage.filters))
            out = (math.ceil(shape[0] / spec.s), math.ceil(shape[1] / spec.s), stage.filters[-1])
            blocks.append(Block(stage, index, spec, shape, out))
            shape = out
    return blocks


def resnet50_layer_counts() -> dict[str, tuple[int, str]]:
    """{layer type: (how many, why)} for the layers every correct ResNet-50 has."""
    blocks = resnet50_blocks()
    convs = 1 + sum(len(b.spec.main) + (b.spec.shortcut is not None) for b in blocks)
    projections = sum(b.spec.shortcut is not None for b in blocks)
    return {
        "Conv2D": (convs, f"1 in the stem, 3 per block ({len(blocks)} blocks) and 1 on each of "
                          f"the {projections} convolutional blocks' shortcuts"),
        "BatchNormalization": (convs, "one after every Conv2D"),
        "Add": (len(blocks), f"one per block: stages of {[s.blocks for s in STAGES]} blocks"),
        "Dense": (1, "the softmax classifier"),
        "MaxPooling2D": (1, "the 3x3/2 max pooling after the stem"),
    }


def resnet50_params(input_shape=INPUT_SHAPE, classes=CLASSES, bias: bool = True):
    """(total, non-trainable) parameters; ``bias=False``: convolutions with use_bias=False."""
    total = conv_params(STEM.kernel, input_shape[-1], STEM.filters, bias) + bn_params(STEM.filters)
    non_trainable = 2 * STEM.filters
    for block in resnet50_blocks(input_shape):
        t, n = block_params(block.spec, block.in_shape[-1], bias)
        total, non_trainable = total + t, non_trainable + n
    channels = STAGES[-1].filters[-1]
    return total + channels * classes + classes, non_trainable


def stage_summary() -> str:
    """The stage table in one line, for messages."""
    return "; ".join(f"stage {s.number}: {s.blocks} blocks, filters {list(s.filters)}, s={s.s}"
                     for s in STAGES)
