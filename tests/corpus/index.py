"""What the checks must say about each corpus module: (module, function) -> outcome.

None means the check must pass; a string means it must raise AssertionError whose message
contains that substring. EXPECTED is the hidden checks' verdict (tests/test_checks.py runs
every entry); VISIBLE is the students' self-checks' verdict on the same code
(tests/test_selfcheck.py): a mistake has the same name before and after submission. KIND is
each mutant's kind of mistake, which both checks' messages must say (a class's mistakes summary
groups by it).
"""

PASS = None

EXPECTED = {
    # Correct variants, in different styles.
    ("correct_layers_add", "identity_block"): PASS,
    ("correct_layers_add", "convolutional_block"): PASS,
    ("correct_layers_add", "basic_block"): PASS,
    ("correct_layers_add", "ResNet50"): PASS,
    ("correct_tf_keras_ops", "identity_block"): PASS,
    ("correct_tf_keras_ops", "convolutional_block"): PASS,
    ("correct_tf_keras_ops", "basic_block"): PASS,
    ("correct_tf_keras_ops", "ResNet50"): PASS,
    ("correct_functional_ops", "identity_block"): PASS,
    ("correct_functional_ops", "convolutional_block"): PASS,
    ("correct_no_bias", "identity_block"): PASS,
    ("correct_no_bias", "convolutional_block"): PASS,
    ("correct_no_bias", "basic_block"): PASS,
    ("correct_no_bias", "ResNet50"): PASS,
    ("correct_head_global_pool", "ResNet50"): PASS,
    ("correct_head_pool7_same", "ResNet50"): PASS,
    # Identity block mistakes.
    ("mutant_id_no_shortcut", "identity_block"): "the shortcut is not added",
    ("mutant_id_relu_before_add", "identity_block"): "ReLU applied before the addition",
    ("mutant_id_add_after_relu", "identity_block"): "shortcut added after the final ReLU",
    ("mutant_id_no_final_relu", "identity_block"): "missing the final ReLU",
    ("mutant_id_no_relu1", "identity_block"): "missing ReLU after the first BatchNorm",
    ("mutant_id_no_relu2", "identity_block"): "missing ReLU after the second BatchNorm",
    ("mutant_id_fxf_valid", "identity_block"): "padding of the second conv of the main path (fxf (3x3)) must be 'same'",
    ("mutant_id_bn_training_true", "identity_block"): "BatchNorm is hard-wired to training mode",
    ("mutant_id_wrong_filters", "identity_block"): "wrong number of filters in conv 2",
    ("mutant_id_bn_axis1", "identity_block"): "use axis=3",
    ("mutant_id_no_bn3", "identity_block"): "BatchNorm missing after the third conv",
    ("mutant_id_kernel_not_f", "identity_block"): "must have a 2x2 kernel",
    ("mutant_id_conv_activation_relu", "identity_block"): "has activation='relu'",
    ("mutant_id_filters_swapped", "identity_block"): "the filters F1 and F2 are swapped",
    ("mutant_id_relu_before_bn", "identity_block"): "the ReLU comes before the BatchNorm",
    ("mutant_id_add_self", "identity_block"): "adds a tensor to itself",
    ("mutant_id_add_before_bn3", "identity_block"): "the shortcut is added before the last BatchNorm",
    # Convolutional block mistakes.
    ("mutant_conv_stride_on_fxf", "convolutional_block"): "the stride s=2 is on the second conv of the main path (fxf",
    ("mutant_conv_no_shortcut_bn", "convolutional_block"): "BatchNorm missing on the shortcut",
    ("mutant_conv_shortcut_no_stride", "convolutional_block"): "the shortcut conv must have stride 2",
    ("mutant_conv_relu_before_add", "convolutional_block"): "ReLU applied before the addition",
    ("mutant_conv_identity_shortcut", "convolutional_block"): "the shortcut needs a projection",
    ("mutant_conv_bn_training_true", "convolutional_block"): "BatchNorm is hard-wired to training mode",
    ("mutant_conv_shortcut_not_x", "convolutional_block"): "the shortcut conv must read the block's input X",
    # Basic block mistakes.
    ("mutant_basic_stride_on_second", "basic_block"): "the stride s=2 is on the second conv",
    ("mutant_basic_no_projection", "basic_block"): "the shortcut needs a projection",
    ("mutant_basic_relu_before_add", "basic_block"): "ReLU applied before the addition",
    ("mutant_basic_s2_same_channels", "basic_block"): "the shortcut needs a projection here",
    # The reference applied the 3x3 kernel as the 1x1 it should be and crashed (issue 19).
    ("mutant_basic_shortcut_3x3", "basic_block"):
        "the shortcut conv must have a 1x1 kernel (a projection: it only changes the channels "
        "and, with its stride, the size), conv2d",
    # Passed the visible check while every visible case had f=3 (issue 19).
    ("mutant_conv_kernel_3", "convolutional_block"):
        "the second conv of the main path (fxf (2x2)) must have a 2x2 kernel, conv2d",
    # ResNet-50 mistakes.
    ("mutant_resnet_wrong_stages", "ResNet50"): "expected 53 Conv2D",
    ("mutant_resnet_bn_training_true", "ResNet50"): "BatchNorm is hard-wired to training mode",
    ("mutant_resnet_no_softmax", "ResNet50"): "sum to 1",
    ("mutant_resnet_no_zero_padding", "ResNet50"):
        "the stem outputs (None, 14, 14, 64), expected (None, 15, 15, 64): no ZeroPadding2D((3, 3)) "
        "before the stem's 7x7 conv",
    ("mutant_resnet_wrong_strides", "ResNet50"): "stage 3, block 1 outputs (None, 15, 15, 512)",
    ("mutant_resnet_block_relu_before_add", "ResNet50"):
        "stage 2, block 2 (identity block, filters [64, 64, 256]): ReLU applied before the addition",
    ("mutant_resnet_block_stride_on_fxf", "ResNet50"):
        "stage 3, block 1 (convolutional block, filters [128, 128, 512], s=2): the stride s=2 is "
        "on the second conv of the main path",
    ("mutant_resnet_block_no_projection", "ResNet50"):
        "stage 2, block 1 (convolutional block, filters [64, 64, 256], s=1): the main path and "
        "the shortcut have different shapes at the addition",
    # Told only shapes or Keras' error before (issue 19): each names the layer at fault.
    ("mutant_resnet_maxpool_stride1", "ResNet50"):
        "the stem outputs (None, 30, 30, 64), expected (None, 15, 15, 64): MaxPooling2D "
        "'max_pooling2d",
    ("mutant_resnet_no_flatten", "ResNet50"):
        "Flatten() missing before Dense 'dense",
    ("mutant_resnet_stage2_stride2", "ResNet50"):
        "stage 2, block 1 outputs (None, 8, 8, 256), expected (None, 15, 15, 256): in this "
        "block, 'conv2d",
    ("mutant_resnet_avgpool7_valid", "ResNet50"):
        "AveragePooling2D((7, 7), padding='valid') after the last block cannot read the final "
        "map (None, 2, 2, 2048)",
}

# The self-checks' verdicts. The blocks' entries are every block entry of EXPECTED: the same
# diagnosis names the mistake. ResNet-50's self-check builds the network as the graded test
# does (a failure to build gets the same name) and looks at its structure, parameters and
# outputs; it judges what every block computes too.
VISIBLE = {key: outcome for key, outcome in EXPECTED.items() if key[1] != "ResNet50"}
VISIBLE.update({
    ("correct_layers_add", "ResNet50"): PASS,
    ("correct_tf_keras_ops", "ResNet50"): PASS,
    ("correct_no_bias", "ResNet50"): PASS,
    ("correct_head_global_pool", "ResNet50"): PASS,
    ("correct_head_pool7_same", "ResNet50"): PASS,
    ("mutant_resnet_wrong_stages", "ResNet50"): "stage 4 (filters [256, 256, 1024]) has 5 blocks",
    ("mutant_resnet_bn_training_true", "ResNet50"): "BatchNorm is hard-wired to training mode",
    ("mutant_resnet_no_softmax", "ResNet50"): "sum to 1",
    ("mutant_resnet_no_zero_padding", "ResNet50"):
        "the stem outputs (None, 14, 14, 64), expected (None, 15, 15, 64): no ZeroPadding2D((3, 3)) "
        "before the stem's 7x7 conv",
    ("mutant_resnet_wrong_strides", "ResNet50"): "stage 3, block 1 outputs (None, 15, 15, 512)",
    # A mistake inside a block: the self-check judges the built model's blocks too.
    ("mutant_resnet_block_relu_before_add", "ResNet50"):
        EXPECTED[("mutant_resnet_block_relu_before_add", "ResNet50")],
    ("mutant_resnet_block_stride_on_fxf", "ResNet50"):
        EXPECTED[("mutant_resnet_block_stride_on_fxf", "ResNet50")],
    # Networks that do not build, or build with the wrong head or stem: named the same.
    **{(module, "ResNet50"): EXPECTED[(module, "ResNet50")] for module in (
        "mutant_resnet_block_no_projection", "mutant_resnet_maxpool_stride1",
        "mutant_resnet_no_flatten", "mutant_resnet_stage2_stride2",
        "mutant_resnet_avgpool7_valid")},
})

# The kind of each mutant's mistake (resnet_kit.diagnosis.MISTAKE_KINDS), visible and hidden:
# what a class's mistakes summary groups it under, whatever its layer names and shapes.
KIND = {
    ("mutant_id_no_shortcut", "identity_block"): "shortcut-not-added",
    ("mutant_id_relu_before_add", "identity_block"): "relu-before-add",
    ("mutant_id_add_after_relu", "identity_block"): "add-after-relu",
    ("mutant_id_no_final_relu", "identity_block"): "final-relu-missing",
    ("mutant_id_no_relu1", "identity_block"): "relu-missing",
    ("mutant_id_no_relu2", "identity_block"): "relu-missing",
    ("mutant_id_fxf_valid", "identity_block"): "padding",
    ("mutant_id_bn_training_true", "identity_block"): "bn-training-mode",
    ("mutant_id_wrong_filters", "identity_block"): "filters",
    ("mutant_id_bn_axis1", "identity_block"): "bn-axis",
    ("mutant_id_no_bn3", "identity_block"): "bn-missing",
    ("mutant_id_kernel_not_f", "identity_block"): "kernel-size",
    ("mutant_id_conv_activation_relu", "identity_block"): "conv-activation-relu",
    ("mutant_id_filters_swapped", "identity_block"): "filters-swapped",
    ("mutant_id_relu_before_bn", "identity_block"): "relu-before-bn",
    ("mutant_id_add_self", "identity_block"): "adds-itself",
    ("mutant_id_add_before_bn3", "identity_block"): "add-before-last-bn",
    ("mutant_conv_stride_on_fxf", "convolutional_block"): "stride-misplaced",
    ("mutant_conv_no_shortcut_bn", "convolutional_block"): "shortcut-bn-missing",
    ("mutant_conv_shortcut_no_stride", "convolutional_block"): "shortcut-stride",
    ("mutant_conv_relu_before_add", "convolutional_block"): "relu-before-add",
    ("mutant_conv_identity_shortcut", "convolutional_block"): "projection-missing",
    ("mutant_conv_bn_training_true", "convolutional_block"): "bn-training-mode",
    ("mutant_conv_shortcut_not_x", "convolutional_block"): "shortcut-reads-wrong",
    ("mutant_conv_kernel_3", "convolutional_block"): "kernel-size",
    ("mutant_basic_stride_on_second", "basic_block"): "stride-misplaced",
    ("mutant_basic_no_projection", "basic_block"): "projection-missing",
    ("mutant_basic_relu_before_add", "basic_block"): "relu-before-add",
    ("mutant_basic_s2_same_channels", "basic_block"): "projection-missing",
    ("mutant_basic_shortcut_3x3", "basic_block"): "shortcut-kernel",
    ("mutant_resnet_wrong_stages", "ResNet50"): "stage-blocks",
    ("mutant_resnet_bn_training_true", "ResNet50"): "bn-training-mode",
    ("mutant_resnet_no_softmax", "ResNet50"): "softmax",
    ("mutant_resnet_no_zero_padding", "ResNet50"): "stem",
    ("mutant_resnet_wrong_strides", "ResNet50"): "stage-stride",
    ("mutant_resnet_block_relu_before_add", "ResNet50"): "relu-before-add",
    ("mutant_resnet_block_stride_on_fxf", "ResNet50"): "stride-misplaced",
    ("mutant_resnet_block_no_projection", "ResNet50"): "shapes-differ-at-add",
    ("mutant_resnet_maxpool_stride1", "ResNet50"): "stem",
    ("mutant_resnet_no_flatten", "ResNet50"): "flatten-missing",
    ("mutant_resnet_stage2_stride2", "ResNet50"): "stage-stride",
    ("mutant_resnet_avgpool7_valid", "ResNet50"): "head-pool-too-large",
}
