"""What the checks must say about each corpus module: (module, function) -> outcome.

None means the check must pass; a string means it must raise AssertionError whose message
contains that substring. EXPECTED is the hidden checks' verdict (tests/test_checks.py runs
every entry); VISIBLE is the students' self-checks' verdict on the same code
(tests/test_selfcheck.py): a mistake has the same name before and after submission.
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
    # ResNet-50 mistakes.
    ("mutant_resnet_wrong_stages", "ResNet50"): "expected 53 Conv2D",
    ("mutant_resnet_bn_training_true", "ResNet50"): "BatchNorm is hard-wired to training mode",
    ("mutant_resnet_no_softmax", "ResNet50"): "sum to 1",
    ("mutant_resnet_no_zero_padding", "ResNet50"): "check ZeroPadding2D",
    ("mutant_resnet_wrong_strides", "ResNet50"): "stage 3, block 1 outputs (None, 15, 15, 512)",
    ("mutant_resnet_block_relu_before_add", "ResNet50"):
        "stage 2, block 2 (identity block, filters [64, 64, 256]): ReLU applied before the addition",
    ("mutant_resnet_block_stride_on_fxf", "ResNet50"):
        "stage 3, block 1 (convolutional block, filters [128, 128, 512], s=2): the stride s=2 is "
        "on the second conv of the main path",
    ("mutant_resnet_block_no_projection", "ResNet50"):
        "stage 2, block 1 (convolutional block, filters [64, 64, 256], s=1): the main path and "
        "the shortcut have different shapes at the addition",
}

# The self-checks' verdicts. The blocks' entries are every block entry of EXPECTED: the same
# diagnosis names the mistake. ResNet-50's self-check takes a built model and looks at its
# structure, parameters and outputs, not at values from fresh weights.
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
    ("mutant_resnet_no_zero_padding", "ResNet50"): "check ZeroPadding2D",
    ("mutant_resnet_wrong_strides", "ResNet50"): "stage 3, block 1 outputs (None, 15, 15, 512)",
    # A mistake inside a block: the self-check judges the built model's blocks too.
    ("mutant_resnet_block_relu_before_add", "ResNet50"):
        EXPECTED[("mutant_resnet_block_relu_before_add", "ResNet50")],
    ("mutant_resnet_block_stride_on_fxf", "ResNet50"):
        EXPECTED[("mutant_resnet_block_stride_on_fxf", "ResNet50")],
})
