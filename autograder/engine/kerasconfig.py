"""Allowlist validator for a captured Keras 3 Functional-model config, run by the judge BEFORE
``keras.saving.deserialize_keras_object(cfg, safe_mode=True)``.

Why not safe mode alone (checked on Keras 3.15.1): it refuses Python lambdas, but a config may
still name any exported Keras function (``keras.config.*`` among them) as an activation or a
call argument, which deserialization calls, import modules named ``keras*``, and allocate any
number of weights. A student's forged config must not get that far.

Pure Python (json + re only, does not import keras): it decides from data alone.
Policy: everything not explicitly allowed is rejected.
  * top level must be exactly keras.src.models.functional.Functional, no compile_config;
  * every layer entry must be an allowlisted (module, class_name) with registered_name
    None (keras.layers.*) or == class_name (ops-level keras.src.ops.*);
  * every layer-config key must be known for that class; values are JSON scalars / lists of
    scalars, or an allowlisted nested object (DTypePolicy, keras.initializers.*, ...);
  * activation strings from a fixed set;
  * inbound_nodes: args are __keras_tensor__ refs (or numbers for ops), kwargs only
    training in {true,false,null} / mask null; keras_history must point at a layer in cfg;
  * numeric caps against resource exhaustion (weights are allocated during deserialization!).
Returns a list of problems (empty list == accepted).
"""
import json
import math
import re

MAX_JSON_BYTES = 2_000_000
MAX_LAYERS = 1000
MAX_DEPTH = 40
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-/]{1,128}$")

COMMON = {"name", "trainable", "dtype"}
INIT_KEYS = {"kernel_initializer", "bias_initializer", "beta_initializer", "gamma_initializer",
             "moving_mean_initializer", "moving_variance_initializer"}
REG_KEYS = {"kernel_regularizer", "bias_regularizer", "beta_regularizer", "gamma_regularizer",
            "activity_regularizer"}
CON_KEYS = {"kernel_constraint", "bias_constraint", "beta_constraint", "gamma_constraint"}

# (module, class_name) -> allowed config keys
LAYERS = {
    ("keras.layers", "InputLayer"): {"batch_shape", "dtype", "name", "optional", "ragged", "sparse"},
    ("keras.layers", "Conv2D"): COMMON | INIT_KEYS | REG_KEYS | CON_KEYS | {
        "activation", "data_format", "dilation_rate", "filters", "groups", "kernel_size",
        "padding", "strides", "use_bias"},
    ("keras.layers", "BatchNormalization"): COMMON | INIT_KEYS | REG_KEYS | CON_KEYS | {
        "axis", "center", "epsilon", "momentum", "renorm", "renorm_clipping",
        "renorm_momentum", "scale", "synchronized"},
    ("keras.layers", "Dense"): COMMON | INIT_KEYS | REG_KEYS | CON_KEYS | {
        "activation", "units", "use_bias", "quantization_config", "lora_rank", "lora_alpha"},
    ("keras.layers", "Activation"): COMMON | {"activation"},
    ("keras.layers", "ReLU"): COMMON | {"max_value", "negative_slope", "threshold"},
    ("keras.layers", "Add"): COMMON,
    ("keras.layers", "ZeroPadding2D"): COMMON | {"data_format", "padding"},
    ("keras.layers", "MaxPooling2D"): COMMON | {"data_format", "padding", "pool_size", "strides"},
    ("keras.layers", "AveragePooling2D"): COMMON | {"data_format", "padding", "pool_size", "strides"},
    ("keras.layers", "GlobalAveragePooling2D"): COMMON | {"data_format", "keepdims"},
    ("keras.layers", "Flatten"): COMMON | {"data_format"},
    ("keras.layers", "Dropout"): COMMON | {"rate", "seed", "noise_shape"},
    # ops-level operations created by `x + s`, keras.ops.relu, keras.ops.mean
    ("keras.src.ops.numpy", "Add"): {"name"},
    ("keras.src.ops.nn", "Relu"): {"name"},
    ("keras.src.ops.numpy", "Mean"): {"name", "axis", "keepdims"},
    # keras.activations.relu applied to a tensor
    ("keras.src.activations.activations", "ReLU"): {"name", "negative_slope", "max_value",
                                                   "threshold"},
}
# Operations (not layers): their registered_name is their class name.
OP_MODULES = ("keras.src.ops.", "keras.src.activations.")
# nested objects allowed inside layer configs: (module, class_name) -> allowed parent keys
NESTED = {("keras", "DTypePolicy"): {"dtype"}}
for c in ("GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform",
          "RandomNormal", "RandomUniform", "TruncatedNormal", "Zeros", "Ones", "Constant",
          "VarianceScaling", "Orthogonal"):
    NESTED[("keras.initializers", c)] = INIT_KEYS
for c in ("L1", "L2", "L1L2"):
    NESTED[("keras.regularizers", c)] = REG_KEYS
for c in ("MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm"):
    NESTED[("keras.constraints", c)] = CON_KEYS
# The kit's own initializer (selfcheck's constant-weight test), registered under a fixed name.
KIT_NESTED = {("resnet_kit.selfcheck", "Constant", "resnet_kit>Constant"): INIT_KEYS}
NESTED_KEYS = {"seed", "mean", "stddev", "minval", "maxval", "value", "scale", "mode",
               "distribution", "gain", "l1", "l2", "max_value", "min_value", "axis", "rate",
               "name", "input_axes", "output_axes"}
ACTIVATIONS = {"relu", "linear", "softmax", "sigmoid", "tanh", None}
DTYPES = {"float32"}

# numeric caps (per key)
# strides: a pooling layer's strides default to its pool_size (AveragePooling2D((7, 7),
# padding="same") is a global average pool on ResNet-50's 2x2 map), so they share its cap.
CAPS = {"filters": 4096, "units": 4096, "kernel_size": 11, "strides": 8, "pool_size": 8,
        "dilation_rate": 4, "groups": 1, "padding": 8}


def _err(errs, path, msg):
    errs.append(f"{path}: {msg}")


def _scalar(v):
    return v is None or isinstance(v, (bool, int, str)) or (isinstance(v, float) and math.isfinite(v))


def _check_value(errs, path, key, v, depth=0):
    """Value inside a layer config: scalar, list of scalars, or allowlisted nested object."""
    if depth > 4:
        return _err(errs, path, "nesting too deep")
    if isinstance(v, dict):
        if "class_name" not in v:
            return _err(errs, path, f"plain dict not allowed under {key!r}")
        mod, cls = v.get("module"), v.get("class_name")
        kit = (mod, cls, v.get("registered_name")) in KIT_NESTED
        if kit:
            if key not in KIT_NESTED[(mod, cls, v.get("registered_name"))]:
                return _err(errs, path, f"{cls} not allowed under {key!r}")
        elif (mod, cls) not in NESTED or key not in NESTED[(mod, cls)]:
            return _err(errs, path, f"nested object {mod}.{cls} not allowed under {key!r}")
        if set(v) - {"module", "class_name", "config", "registered_name"}:
            _err(errs, path, f"unexpected keys {sorted(set(v) - {'module', 'class_name', 'config', 'registered_name'})}")
        if v.get("registered_name") is not None and not kit:
            _err(errs, path, "registered_name must be null")
        cfg = v.get("config")
        if not isinstance(cfg, dict):
            return _err(errs, path, "nested config must be a dict")
        for k, x in cfg.items():
            if k not in NESTED_KEYS:
                _err(errs, f"{path}.{k}", "unknown nested key")
            elif key == "dtype" and k == "name":
                if x not in DTYPES:
                    _err(errs, f"{path}.{k}", f"dtype {x!r} not allowed")
            elif not (_scalar(x) or (isinstance(x, list) and all(_scalar(y) for y in x))):
                _err(errs, f"{path}.{k}", "nested value must be scalar")
        return
    if isinstance(v, list):
        if len(v) > 8 or not all(_scalar(x) or (isinstance(x, list) and len(x) <= 4 and all(_scalar(y) for y in x)) for x in v):
            return _err(errs, path, "list value must hold scalars")
        flat = [y for x in v for y in (x if isinstance(x, list) else [x])]
    elif _scalar(v):
        flat = [v]
    else:
        return _err(errs, path, f"bad value type {type(v).__name__}")
    if key in CAPS and key != "padding":
        for x in flat:
            if not isinstance(x, int) or isinstance(x, bool) or x < 1 or x > CAPS[key]:
                _err(errs, path, f"{key}={x!r} outside [1, {CAPS[key]}]")
    if key == "padding":
        for x in flat:
            if isinstance(x, str):
                if x not in ("valid", "same"):
                    _err(errs, path, f"padding {x!r}")
            elif not isinstance(x, int) or isinstance(x, bool) or not 0 <= x <= CAPS["padding"]:
                _err(errs, path, f"padding {x!r}")
    if key == "activation" and v not in ACTIVATIONS:
        _err(errs, path, f"activation {v!r} not allowed")
    if key == "dtype" and isinstance(v, str) and v not in DTYPES:
        _err(errs, path, f"dtype {v!r} not allowed")
    if key == "data_format" and v not in ("channels_last", None):
        _err(errs, path, f"data_format {v!r}")
    if key == "name" and not (isinstance(v, str) and NAME_RE.match(v)):
        _err(errs, path, "bad name")
    if key in ("trainable", "use_bias", "center", "scale", "renorm", "synchronized",
               "keepdims", "optional", "ragged", "sparse") and not isinstance(v, bool):
        _err(errs, path, f"{key} must be bool")
    if key in ("renorm", "synchronized", "ragged", "sparse", "optional") and v is True:
        _err(errs, path, f"{key}=true not allowed")
    if key in ("quantization_config", "lora_rank", "renorm_clipping", "noise_shape") and v is not None:
        _err(errs, path, f"{key} must be null")


def _shape(s):
    return isinstance(s, list) and 1 <= len(s) <= 5 and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 < d < 100_000) for d in s)


def _shape_or_shapes(s):
    return _shape(s) or (isinstance(s, list) and 1 <= len(s) <= 8 and all(_shape(x) for x in s))


def _check_tensor_ref(errs, path, t, names):
    if not (isinstance(t, dict) and t.get("class_name") == "__keras_tensor__"
            and set(t) == {"class_name", "config"} and isinstance(t["config"], dict)
            and set(t["config"]) == {"shape", "dtype", "keras_history"}):
        return _err(errs, path, "expected a __keras_tensor__ reference")
    c = t["config"]
    h = c["keras_history"]
    if not (isinstance(h, list) and len(h) == 3 and isinstance(h[0], str) and h[0] in names
            and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 64 for i in h[1:])):
        _err(errs, path, f"bad keras_history {h!r}")
    if c["dtype"] not in DTYPES:
        _err(errs, path, f"tensor dtype {c['dtype']!r}")
    if not (isinstance(c["shape"], list) and len(c["shape"]) <= 5
            and all(s is None or (isinstance(s, int) and not isinstance(s, bool) and 0 < s < 100_000) for s in c["shape"])):
        _err(errs, path, "bad tensor shape")


def _check_nodes(errs, path, nodes, names, is_op):
    if not isinstance(nodes, list) or len(nodes) > 64:
        return _err(errs, path, "inbound_nodes must be a short list")
    for j, n in enumerate(nodes):
        p = f"{path}[{j}]"
        if not (isinstance(n, dict) and set(n) == {"args", "kwargs"}
                and isinstance(n["args"], list) and isinstance(n["kwargs"], dict)):
            _err(errs, p, "node must be {args: [...], kwargs: {...}}")
            continue
        for a_i, a in enumerate(n["args"]):
            if isinstance(a, list):          # Add()([x, s]) passes a list of tensors
                if not 1 <= len(a) <= 8:
                    _err(errs, f"{p}.args[{a_i}]", "bad tensor list")
                for b in a:
                    _check_tensor_ref(errs, f"{p}.args[{a_i}]", b, names)
            elif is_op and a_i > 0 and isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a):
                pass                          # e.g. scalar operand of an ops-level op
            else:
                _check_tensor_ref(errs, f"{p}.args[{a_i}]", a, names)
        for k, v in n["kwargs"].items():
            if k == "training":
                if v not in (True, False, None) or not (v is None or isinstance(v, bool)):
                    _err(errs, f"{p}.kwargs.training", f"must be true/false/null, got {v!r}")
            elif k == "mask":
                if v is not None:
                    _err(errs, f"{p}.kwargs.mask", "must be null")
            else:
                _err(errs, f"{p}.kwargs", f"call kwarg {k!r} not allowed")


def _depth(o, d=0):
    if d > MAX_DEPTH:
        raise ValueError("too deep")
    if isinstance(o, dict):
        for v in o.values():
            _depth(v, d + 1)
    elif isinstance(o, list):
        for v in o:
            _depth(v, d + 1)


def _reject_constant(c):
    raise ValueError(f"non-finite JSON constant {c}")


def validate_model_json(text, expected_input_shape=None):
    """Validate the JSON text of serialize_keras_object(model). Returns list of problems."""
    errs = []
    if isinstance(text, str):
        text_b = text.encode("utf-8")
    else:
        text_b = text
    if len(text_b) > MAX_JSON_BYTES:
        return [f"JSON too large ({len(text_b)} bytes)"]
    try:
        cfg = json.loads(text_b, parse_constant=_reject_constant)
        _depth(cfg)
    except (ValueError, RecursionError) as e:
        return [f"unparseable/unsafe JSON: {e}"]
    return validate_model_config(cfg, expected_input_shape)


def validate_model_config(cfg, expected_input_shape=None):
    errs = []
    if not isinstance(cfg, dict):
        return ["top level must be an object"]
    if set(cfg) - {"module", "class_name", "config", "registered_name", "build_config", "compile_config"}:
        _err(errs, "$", f"unexpected top-level keys {sorted(set(cfg) - {'module', 'class_name', 'config', 'registered_name', 'build_config', 'compile_config'})}")
    if (cfg.get("module"), cfg.get("class_name"), cfg.get("registered_name")) != (
            "keras.src.models.functional", "Functional", "Functional"):
        _err(errs, "$", f"top level must be a Functional model, got {cfg.get('module')}.{cfg.get('class_name')}")
    if cfg.get("compile_config") not in (None, {}):
        _err(errs, "$.compile_config", "must be null or {} (uncompiled)")
    bc = cfg.get("build_config")
    if bc is not None and not (isinstance(bc, dict) and set(bc) <= {"input_shape"}):
        _err(errs, "$.build_config", "unexpected build_config")
    c = cfg.get("config")
    if not isinstance(c, dict) or set(c) != {"name", "trainable", "layers", "input_layers", "output_layers"}:
        return errs + ["$.config: must have exactly name/trainable/layers/input_layers/output_layers"]
    if not (isinstance(c["name"], str) and NAME_RE.match(c["name"])) or not isinstance(c["trainable"], bool):
        _err(errs, "$.config", "bad name/trainable")
    layers = c["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        return errs + ["$.config.layers: must be a list of 1..%d layers" % MAX_LAYERS]
    names = set()
    for i, l in enumerate(layers):
        if isinstance(l, dict) and isinstance(l.get("name"), str):
            if l["name"] in names:
                _err(errs, f"layers[{i}]", f"duplicate layer name {l['name']!r}")
            names.add(l["name"])
    n_inputs = 0
    for i, l in enumerate(layers):
        p = f"layers[{i}]"
        if not isinstance(l, dict):
            _err(errs, p, "layer must be an object")
            continue
        if set(l) - {"module", "class_name", "config", "registered_name", "name", "inbound_nodes", "build_config"}:
            _err(errs, p, f"unexpected keys {sorted(set(l) - {'module', 'class_name', 'config', 'registered_name', 'name', 'inbound_nodes', 'build_config'})}")
        key = (l.get("module"), l.get("class_name"))
        if key not in LAYERS:
            _err(errs, p, f"layer type {key[0]}.{key[1]} not allowed")
            continue
        is_op = key[0].startswith(OP_MODULES)
        if l.get("registered_name") != (key[1] if is_op else None):
            _err(errs, p, f"registered_name {l.get('registered_name')!r} not allowed")
        if not (isinstance(l.get("name"), str) and NAME_RE.match(l["name"])):
            _err(errs, p, "bad layer name")
        bc = l.get("build_config")
        if bc is not None and not (isinstance(bc, dict) and set(bc) == {"input_shape"} and _shape_or_shapes(bc["input_shape"])):
            _err(errs, f"{p}.build_config", "unexpected build_config")
        lc = l.get("config")
        if not isinstance(lc, dict):
            _err(errs, p, "config must be an object")
            continue
        if lc.get("name", l.get("name")) != l.get("name"):
            _err(errs, p, "config.name differs from layer name")
        for k, v in lc.items():
            if k not in LAYERS[key]:
                _err(errs, f"{p}.config.{k}", f"key not allowed for {key[1]}")
            else:
                _check_value(errs, f"{p}.config.{k}", k, v)
        if key == ("keras.layers", "InputLayer"):
            n_inputs += 1
            bs = lc.get("batch_shape")
            if expected_input_shape is not None and bs != [None, *expected_input_shape]:
                _err(errs, f"{p}.config.batch_shape", f"{bs!r} != {[None, *expected_input_shape]!r}")
            if l.get("inbound_nodes"):
                _err(errs, p, "InputLayer must have no inbound nodes")
        else:
            _check_nodes(errs, f"{p}.inbound_nodes", l.get("inbound_nodes"), names, is_op)
    if n_inputs != 1:
        _err(errs, "$.config.layers", f"expected exactly 1 InputLayer, found {n_inputs}")
    for k, most in (("input_layers", 1), ("output_layers", 64)):
        # several outputs: the partial graph recorded when a block failed to build
        v = c[k]
        refs = [v] if (isinstance(v, list) and len(v) == 3 and isinstance(v[0], str)) else v
        if not (isinstance(refs, list) and 1 <= len(refs) <= most and all(
                isinstance(r, list) and len(r) == 3 and r[0] in names
                and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 64
                        for x in r[1:]) for r in refs)):
            _err(errs, f"$.config.{k}", f"must reference tensors of known layers, got {v!r}")
    return errs


MAX_PARAMS = 50_000_000          # ResNet-50 (64x64x3, 6 classes) has 23.6M
MAX_TENSOR_ELEMS = 20_000_000    # per-example activation size


def _pair(v, n=2):
    return list(v) if isinstance(v, list) else [v] * n


def estimate_params(cfg):
    """Static shape/parameter propagation for the allowlisted layer set (channels_last).
    Call only on a config that passed validate_model_config. Returns (n_params, problems).
    Run it BEFORE deserializing: keras allocates and initializes all weights while rebuilding."""
    layers = {l["name"]: l for l in cfg["config"]["layers"]}
    out = {}          # (layer name, node index) -> shape tuple without batch dim
    params = {}
    errs = []
    for l in layers.values():
        if l["class_name"] == "InputLayer":
            out[(l["name"], 0)] = tuple(l["config"]["batch_shape"][1:])
    pending = [(l["name"], i) for l in layers.values() if l["class_name"] != "InputLayer"
               for i in range(len(l.get("inbound_nodes") or []))]

    def ref_shape(t):
        h = t["config"]["keras_history"]
        return out.get((h[0], h[1]))

    progress = True
    while pending and progress:
        progress = False
        for key in list(pending):
            name, ni = key
            l = layers[name]; c = l["config"]; cls = l["class_name"]
            node = l["inbound_nodes"][ni]
            a0 = node["args"][0]
            ins = [ref_shape(t) for t in (a0 if isinstance(a0, list) else [a0])]
            ins += [ref_shape(t) for t in node["args"][1:] if isinstance(t, dict)]
            if any(s is None for s in ins):
                continue
            pending.remove(key); progress = True
            x = ins[0]
            try:
                if any(d is None for d in x):
                    raise ValueError("unknown (None) non-batch dimension")
                p = 0
                if cls == "Conv2D":
                    H, W, C = x
                    k = _pair(c["kernel_size"]); st = _pair(c.get("strides", 1)); dl = _pair(c.get("dilation_rate", 1))
                    if c.get("padding", "valid") == "same":
                        Ho, Wo = -(-H // st[0]), -(-W // st[1])
                    else:
                        Ho = (H - dl[0] * (k[0] - 1) - 1) // st[0] + 1
                        Wo = (W - dl[1] * (k[1] - 1) - 1) // st[1] + 1
                    f = c["filters"]; g = c.get("groups", 1)
                    p = k[0] * k[1] * (C // g) * f + (f if c.get("use_bias", True) else 0)
                    y = (Ho, Wo, f)
                elif cls == "BatchNormalization":
                    ax = c.get("axis", -1); ax = ax[0] if isinstance(ax, list) else ax
                    ax = ax - 1 if ax > 0 else len(x) + ax
                    n = x[ax]
                    p = n * (2 + int(c.get("center", True)) + int(c.get("scale", True)))
                    y = x
                elif cls == "Dense":
                    p = x[-1] * c["units"] + (c["units"] if c.get("use_bias", True) else 0)
                    y = x[:-1] + (c["units"],)
                elif cls in ("Add",):
                    if len(set(ins)) != 1 and l["module"] == "keras.layers":
                        raise ValueError(f"Add of different shapes {ins}")
                    y = tuple(max(d) for d in zip(*ins)) if len({len(s) for s in ins}) == 1 else x
                elif cls == "ZeroPadding2D":
                    pd = c["padding"]
                    if isinstance(pd, int):
                        pd = [[pd, pd], [pd, pd]]
                    elif not isinstance(pd[0], list):
                        pd = [[pd[0], pd[0]], [pd[1], pd[1]]]
                    y = (x[0] + sum(pd[0]), x[1] + sum(pd[1]), x[2])
                elif cls in ("MaxPooling2D", "AveragePooling2D"):
                    ps = _pair(c.get("pool_size", 2)); st = _pair(c.get("strides") or ps)
                    if c.get("padding", "valid") == "same":
                        y = (-(-x[0] // st[0]), -(-x[1] // st[1]), x[2])
                    else:
                        y = ((x[0] - ps[0]) // st[0] + 1, (x[1] - ps[1]) // st[1] + 1, x[2])
                elif cls == "GlobalAveragePooling2D":
                    y = (1, 1, x[2]) if c.get("keepdims") else (x[2],)
                elif cls == "Flatten":
                    n = 1
                    for d in x:
                        n *= d
                    y = (n,)
                elif cls == "Mean":
                    axes = c.get("axis"); axes = axes if isinstance(axes, list) else [axes]
                    axes = {a - 1 if a > 0 else len(x) + a for a in axes}
                    y = tuple((1 if i in axes else d) for i, d in enumerate(x) if c.get("keepdims") or i not in axes)
                else:                      # Activation, ReLU, Dropout, Relu: shape-preserving
                    y = x
                if any(d < 1 for d in y):
                    raise ValueError(f"non-positive output dim {y}")
                n = 1
                for d in y:
                    n *= d
                if n > MAX_TENSOR_ELEMS:
                    raise ValueError(f"activation too large {y}")
                params[name] = p
                out[key] = y
            except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError) as e:
                errs.append(f"{name}: shape inference failed: {e}")
                return None, errs
    if pending:
        errs.append(f"unresolvable nodes: {pending[:5]}")
    total = sum(params.values())
    if total > MAX_PARAMS:
        errs.append(f"estimated {total:,} parameters > {MAX_PARAMS:,}")
    return total, errs


def check(text, expected_input_shape=None):
    """Full pre-deserialization gate: returns (cfg or None, n_params, problems)."""
    problems = validate_model_json(text, expected_input_shape)
    if problems:
        return None, None, problems
    cfg = json.loads(text)
    n, problems = estimate_params(cfg)
    return (cfg if not problems else None), n, problems
