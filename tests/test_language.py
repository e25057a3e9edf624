"""The archc language: what each construct means once elaborated."""

from __future__ import annotations

import pytest

import archc
from archc import ir
from archc.parser import parse


def net(body: str, input: str = "3x32x32") -> ir.Network:
    return archc.analyze(f"network t input {input}\n{body}\n")


def ops(n: ir.Network) -> list[str]:
    return [node.op for node in n.nodes]


def names(n: ir.Network) -> list[str]:
    return [node.name for node in n.nodes]


# -- the papers' notation ------------------------------------------------------------------------


def test_vgg_table_1_notation_as_printed():
    a = net("conv3-64 ×2; maxpool\nconv1-512\nFC-4096; dropout; FC-1000; soft-max  # head")
    assert ops(a) == ["input", "conv", "relu", "conv", "relu", "maxpool", "conv", "relu",
                      "fc", "relu", "dropout", "fc", "softmax"]
    conv1 = a.nodes[6].layer
    assert (conv1.kernel, conv1.padding, conv1.out_channels) == ((1, 1), (0, 0), 512)


@pytest.mark.parametrize("repeat", ["×2", "x2", "× 2"])
def test_repeat_spellings(repeat):
    assert ops(net(f"conv3-8 {repeat}")).count("conv") == 2


def test_semicolons_newlines_and_comments_are_equivalent():
    one = net("conv3-8; maxpool; FC-10")
    other = net("# a comment\nconv3-8   # another\n\nmaxpool\nFC-10\n")
    assert ops(one) == ops(other)


def test_numbers_in_argument_lists_are_not_thousands():
    text = "block b(x, y, z) { conv1-x; conv1-y; conv1-z }\nb(64,128,256)"
    widths = [n.info.shape.channels for n in net(text).nodes if n.op == "conv"]
    assert widths == [64, 128, 256]


def test_every_node_knows_where_it_was_written():
    spec = parse("network t input 3x8x8\n\nconv3-8 ×2\n  pool: maxpool\n", "x.arch")
    item = spec.statements[1]
    assert (item.loc.line, item.loc.column) == (3, 1)
    assert (item.repeat_loc.line, item.repeat_loc.column) == (3, 9)
    n = archc.analyze("network t input 3x8x8\n\nconv3-8 ×2\n  pool: maxpool\n")
    assert [(x.loc.line, x.loc.column) for x in n.nodes if x.op in ("conv", "maxpool")] == \
        [(3, 1), (3, 1), (4, 9)]


def test_text_is_the_layer_in_the_specs_notation():
    n = net("conv1: conv11-96/4 pad=0; dropout(40%); LRN size=5", input="3x227x227")
    assert [x.text for x in n.nodes if not x.implicit][1:] == [
        "conv11-96/4 pad=0", "dropout(40%)", "LRN size=5"]


# -- layer options ---------------------------------------------------------------------------


def test_conv_padding_defaults_to_same_for_odd_kernels():
    n = net("conv5-8; conv4-8; conv3-8 pad=valid; conv3-8 pad=2")
    pads = [x.layer.padding for x in n.nodes if x.op == "conv"]
    assert pads == [(2, 2), (0, 0), (0, 0), (2, 2)]


def test_stride_suffix_and_option_agree():
    a = net("conv7-64/2").nodes[1].layer
    b = net("conv7-64 stride=2").nodes[1].layer
    assert a == b and a.stride == (2, 2)
    with pytest.raises(archc.SemanticError, match="stride is given twice"):
        net("conv7-64/2 stride=2")


def test_non_square_kernels():
    layer = net("conv1x7-8").nodes[1].layer
    assert (layer.kernel, layer.padding) == ((1, 7), (0, 3))


def test_pooling_defaults_and_overlapping_pooling():
    n = net("maxpool; maxpool3/2; avgpool3 pad=1 ceil", input="3x64x64")
    pools = [x.layer for x in n.nodes if x.op in ("maxpool", "avgpool")]
    assert [(p.kernel, p.stride, p.padding, p.ceil) for p in pools] == [
        ((2, 2), (2, 2), (0, 0), False), ((3, 3), (2, 2), (0, 0), False),
        ((3, 3), (3, 3), (1, 1), True)]


def test_dropout_probability_forms():
    ps = [x.layer.p for x in net("dropout; dropout(0.4); dropout p=70%").nodes[1:]]
    assert ps == [0.5, 0.4, 0.7]


def test_lrn_conventions():
    paper, caffe, torch_ = (x.layer for x in net(
        "LRN; LRN(5, 1e-4, 0.75, 1) convention=caffe; LRN convention=pytorch").nodes[1:])
    assert (paper.alpha_per_term, paper.torch_alpha) == (1e-4, pytest.approx(5e-4))
    assert caffe.alpha_per_term == pytest.approx(2e-5) and caffe.torch_alpha == 1e-4
    assert torch_.convention == "caffe"


def test_defaults_apply_unless_a_layer_says_otherwise():
    n = net("default maxpool ceil=true\ndefault conv bias=false\n"
            "maxpool3/2; maxpool3/2 ceil=false; conv3-8; conv3-8 bias=true", input="3x33x33")
    assert [x.layer.ceil for x in n.nodes if x.op == "maxpool"] == [True, False]
    assert [x.layer.bias for x in n.nodes if x.op == "conv"] == [False, True]


def test_batch_norm_flag_comes_between_layer_and_activation():
    n = net("default conv bn=true\nconv3-8; FC-10")
    assert ops(n) == ["input", "conv", "bn", "relu", "fc"]
    assert n.nodes[2].implicit and n.nodes[2].info.params == 16


# -- activations -------------------------------------------------------------------------------


def test_activation_follows_hidden_layers_but_not_the_output():
    assert ops(net("conv3-8; FC-64; FC-10; soft-max")) == [
        "input", "conv", "relu", "fc", "relu", "fc", "softmax"]


def test_dropout_and_softmax_after_the_output_layer_do_not_make_it_hidden():
    assert ops(net("FC-64; FC-10; dropout; soft-max"))[-3:] == ["fc", "dropout", "softmax"]


def test_output_layer_inside_a_group():
    n = net("head { FC-64; FC-10 }")
    assert ops(n) == ["input", "fc", "relu", "fc"]


def test_network_activation_and_per_layer_override():
    n = net("activation tanh\nconv3-8; conv3-8 act=sigmoid; conv3-8 act=none; FC-10 act=relu")
    assert ops(n) == ["input", "conv", "tanh", "conv", "sigmoid", "conv", "fc", "relu"]
    assert ops(net("activation none\nconv3-8; FC-10")) == ["input", "conv", "fc"]


def test_explicit_activation_layers():
    assert ops(net("conv3-8 act=none; scaled-tanh; FC-10"))[1:] == ["conv", "scaled_tanh", "fc"]


# -- naming ------------------------------------------------------------------------------------


def test_names_inside_groups_are_sequential_positions():
    n = net("features { conv3-8 ×2; maxpool }\nclassifier { FC-32; dropout; FC-10 }")
    assert names(n)[1:] == ["features.0", "features.1", "features.2", "features.3",
                            "features.4", "classifier.0", "classifier.1", "classifier.2",
                            "classifier.3"]


def test_top_level_names_follow_kind_and_labels():
    n = net("conv3-8; conv3-8; pool: maxpool; FC-10; soft-max")
    assert names(n)[1:] == ["conv1", "relu1", "conv2", "relu2", "pool", "fc", "softmax"]


def test_auto_names_skip_labels():
    n = net("conv3-8; conv1: conv3-8; conv3-8")
    assert [x.name for x in n.nodes if x.op == "conv"] == ["conv2", "conv1", "conv3"]


def test_labelled_repeats_are_numbered_like_caffe():
    n = net("conv1: conv3-64 ×2")
    assert [x.name for x in n.nodes if x.op == "conv"] == ["conv1_1", "conv1_2"]


def test_a_scope_with_one_thing_is_that_thing():
    text = ("block basic(c) { conv: conv1-c act=none; bn: bn; relu }\n"
            "block single(c) { FC-c act=none }\n"
            "stem: basic(8)\nhead: single(10)")
    n = net(text)
    assert names(n)[1:] == ["stem.conv", "stem.bn", "stem.2", "head"]


def test_concat_branches_and_their_names():
    text = ("mix: concat {\n  a: conv1-8\n  b { conv1-4; conv3-8 }\n  maxpool3/1 pad=1\n}")
    n = net(text)
    assert n.node("mix").op == "concat"
    assert n.node("mix").info.shape.as_list() == [19, 32, 32]
    # Labelled branches are submodules of their own; an unlabelled one lies in the join,
    # its layers named by kind (as an `add`'s are).
    assert {"mix.a.0", "mix.a.1", "mix.b.0", "mix.b.2", "mix.maxpool"} <= set(names(n))


def test_a_dense_layer_names_its_layers_as_torchvision_does():
    # torchvision's _DenseLayer: norm1, relu1, conv1, norm2, relu2, conv2, and the input
    # concatenated with what they make.
    text = ("default conv act=none bias=false\n"
            "layer: concat { identity; { norm1: bn; relu1: relu; conv1: conv1-16\n"
            "                            norm2: bn; relu2: relu; conv2: conv3-4 } }")
    n = net(text)
    assert [x for x in names(n) if x.startswith("layer.")] == [
        "layer.identity", "layer.norm1", "layer.relu1", "layer.conv1", "layer.norm2",
        "layer.relu2", "layer.conv2"]
    assert n.node("layer").info.shape.as_list() == [3 + 4, 32, 32]


def test_concat_needs_two_branches():
    with pytest.raises(archc.SemanticError, match="two or more branches"):
        net("concat { conv1-8 }")


# -- blocks, use, sides ------------------------------------------------------------------------


def test_block_arguments_by_position_keyword_and_default():
    text = "block b(c, k=3, s=1) { conv-c kernel=k stride=s }\nb(8); b(8, s=2); b(c=4, k=1)"
    convs = [x.layer for x in net(text).nodes if x.op == "conv"]
    assert [(c.out_channels, c.kernel[0], c.stride[0]) for c in convs] == [
        (8, 3, 1), (8, 3, 2), (4, 1, 1)]


def test_block_instance_text_shows_its_arguments():
    n = net("block b(c) { conv3-c; maxpool }\nblk: b(16)")
    assert n.root.children[0].text == "b(16)" and n.root.children[0].block == "b"
    assert n.node("blk.0").text == "conv3-16"


def test_blocks_from_a_library_file():
    n = archc.analyze("network t input 3x28x28\nuse \"lib/inception.arch\"\n"
                      "i: inception(64, 96, 128, 16, 32, 32)\n")
    assert n.node("i").info.shape.as_list() == [256, 28, 28]


def test_a_block_name_cannot_be_a_layer_word():
    with pytest.raises(archc.SemanticError, match="layer word"):
        net("block relu(c) { conv3-c }\nrelu(3)")


def test_side_outputs_branch_off_and_the_main_path_continues():
    n = net("conv3-8\naux: side weight=0.3 { gap; FC-10 }\nconv3-16; gap; FC-10")
    assert [(s.name, s.weight) for s in n.sides] == [("aux", 0.3)]
    side_nodes = [x for x in n.nodes if x.side == "aux"]
    assert [x.op for x in side_nodes] == ["gap", "fc"]
    after = n.nodes[side_nodes[-1].id + 1]
    assert after.op == "conv" and n.nodes[after.inputs[0]].op == "relu"
    assert n.nodes[n.output].op == "fc" and n.nodes[n.output].side is None


def test_connection_tables():
    n = net("table t {\n X . X\n . X X\n}\nconv3-3 table=t", input="2x8x8")
    layer = n.nodes[1].layer
    assert layer.connections == ((0,), (1,), (0, 1))
    assert n.nodes[1].info.weights == 4 * 9


def test_init_scheme_and_per_layer_bias():
    n = net("init normal std=0.01 bias=0\nconv3-8 bias_init=1; FC-10")
    conv, fc = (x for x in n.nodes if x.op in ("conv", "fc"))
    assert conv.init == ir.Init("normal", 0.01, 1.0)
    assert fc.init == ir.Init("normal", 0.01, 0.0)


def test_input_override():
    n = archc.analyze("network t input 3x32x32\nconv3-8", input="3x64x64")
    assert n.nodes[-1].info.shape.as_list() == [8, 64, 64]
    with pytest.raises(archc.UsageError):
        archc.analyze("network t input 3x32x32\nconv3-8", input="64x64")


SMALL = "network t input 3x32x32\nconv3-8; maxpool\nFC-10\nexpect params 20,714\n"


@pytest.mark.parametrize("given", [(3, 16, 16), [3, 16, 16], "3x16x16"])
def test_input_override_as_numbers_or_text(given):
    n = archc.analyze(SMALL, input=given)
    assert n.input.as_list() == [3, 16, 16]
    assert n.node("fc").info.weights == 8 * 8 * 8 * 10  # the map after the pool is 8×8


@pytest.mark.parametrize("given, message", [
    ((3, 16.5, 16), "is not an input shape"), ((3, 16), "is not an input shape"),
    ((3, True, 16), "is not an input shape"), (3, "is not an input shape"),
    ((3, 0, 16), "input shape 3×0×16 has an empty axis"),
    ((3, 2 ** 24 + 1, 16), "has an axis longer than 16,777,216"),
])
def test_a_bad_input_override_says_so(given, message):
    with pytest.raises(archc.UsageError, match=message):
        archc.analyze(SMALL, input=given)


def test_an_overridden_input_drops_the_expect_lines_that_describe_the_spec_s_own():
    assert [o.holds for o in archc.check(archc.analyze(SMALL))] == [True]  # 8·27 + 8 + 8·16·16·10 + 10
    assert archc.check(archc.analyze(SMALL, input="3x16x16")) == []
    assert [o.holds for o in archc.check(archc.analyze(SMALL, input="3x32x32"))] == [True]  # its own
    with pytest.raises(archc.ArchcError, match="is not a count"):  # still checked
        archc.analyze(SMALL + "expect params 1.2.3\n", input="3x16x16")


def test_an_analysed_network_analysed_again_at_another_input():
    """analyze(net, input=...) used to ignore the input and return net as it was."""
    again = archc.analyze(archc.analyze(SMALL), input=(3, 16, 16))
    assert again.input.as_list() == [3, 16, 16]
    assert again.node("fc").info.weights == 8 * 8 * 8 * 10
    assert archc.totals(again) == archc.totals(archc.analyze(SMALL, input="3x16x16"))
    assert again.expects == ()
    assert archc.generate(archc.analyze(SMALL), input="3x16x16") == archc.generate(SMALL, input="3x16x16")


# -- the parser's shipped tables ---------------------------------------------------------------


def test_the_shipped_parse_tables_are_this_grammars(monkeypatch):
    """archc/parse_tables.py (written by `python -m archc.tables`) holds the tables of
    grammar.lark as it is now; with the lark they were built by, archc loads them, and they
    parse every bundled spec and every error case exactly as a parser built afresh does."""
    import lark

    from archc import parse_tables, parser
    from conftest import DATA, SPECS

    grammar = parser._grammar()
    assert parse_tables.GRAMMAR_SHA256 == parser._digest(grammar), \
        "grammar.lark changed: run `python -m archc.tables`"
    shipped = lark.Lark.load({"data": parse_tables.DATA, "memo": parse_tables.MEMO})
    fresh = parser._build(grammar)
    if parse_tables.LARK_VERSION == lark.__version__:  # then nothing is built at run time
        def build(grammar):
            raise AssertionError("the parser was built, not loaded from the shipped tables")
        monkeypatch.setattr(parser, "_build", build)
        parser._lark.cache_clear()
        try:
            parser._lark()
        finally:
            parser._lark.cache_clear()

    def outcome(p: lark.Lark, text: str):
        try:
            return p.parse(parser._uncommented(text) + "\n")
        except lark.exceptions.UnexpectedInput as exc:
            return (type(exc).__name__, exc.line, exc.column,
                    sorted(getattr(exc, "expected", None) or getattr(exc, "allowed", ())))

    texts = [p.read_text(encoding="utf-8")
             for p in [*SPECS.rglob("*.arch"), *(DATA / "errors").glob("*.arch")]]
    assert len(texts) > 100
    for text in texts:
        assert outcome(shipped, text) == outcome(fresh, text)


# -- residual joins ------------------------------------------------------------------------------


def test_add_sums_branches_and_the_activation_follows_the_sum():
    n = net("conv3-8\nadd { { conv3-8; conv3-8 }; identity }\nFC-2")
    assert ops(n) == ["input", "conv", "relu", "conv", "relu", "conv", "identity", "add", "relu",
                      "fc"]
    add = n.nodes[7]
    assert [n.nodes[i].op for i in add.inputs] == ["conv", "identity"]  # no relu before the sum
    assert n.nodes[6].inputs == (2,)  # the shortcut reads the unit's input
    assert [node.name for node in n.nodes[3:9]] == ["add.conv1", "add.relu1", "add.conv2",
                                                     "add.identity", "add", "add.relu2"]


def test_add_options_and_labelled_branches():
    n = net("conv3-8\nres: add act=none { body { conv3-8; conv3-8 }; shortcut: identity }\nFC-2")
    assert "res.relu" not in names(n) and ops(n)[-2:] == ["add", "fc"]
    assert names(n)[3:7] == ["res.body.0", "res.body.1", "res.body.2", "res.shortcut"]
    assert n.scope("res").kind == "add" and n.scope("res.body").kind == "branch"


def test_a_residual_unit_is_named_like_torchvision():
    n = archc.analyze("resnet50")
    for name in ("layer1.0.conv1", "layer1.0.bn3", "layer1.0.downsample.0",
                 "layer1.0.downsample.1", "layer3.5.conv2", "fc"):
        assert n.node(name) is not None, name
    assert n.scope("layer2.0").block == "bottleneck_down"


@pytest.mark.parametrize("text, message", [
    ("add { conv3-8 }", "`add` needs two or more branches"),
    ("add { conv3-16; identity }", "disagree on shape"),
    ("add { conv3-8/2; identity }", "disagree on shape"),
    ("add { {}; identity }", "holds no layers"),
    ("add relu=1 { conv3-8; identity }", "`add` takes only act="),
    ("add: conv3-8", "`add` is a keyword and cannot be a label"),
])
def test_add_errors(text, message):
    with pytest.raises(archc.SpecError, match=message):
        net("conv3-8\n" + text + "\nFC-2")


def test_a_shortcut_branch_that_differs_is_the_one_pointed_at():
    with pytest.raises(archc.GeometryError) as caught:
        net("conv3-8\nadd {\n  { conv3-8; conv3-8 }\n  down: conv1-16/2\n}\nFC-2")
    error = caught.value
    assert error.loc.line == 5  # of two branches that differ, the later is pointed at
    assert "branch 1 (line 4) 8×32×32, `down` 16×16×16" in error.message


def test_an_empty_branch_is_not_an_identity_in_disguise():
    """`{ }` silently passed its input on; now it is an error that names `identity`."""
    for text in ("concat { { }; conv1-4 }", "add { { }; conv1-8 }"):
        with pytest.raises(archc.SemanticError, match="holds no layers") as caught:
            net("conv3-8\n" + text + "\nFC-2")
        assert "`identity`" in caught.value.hint


def test_identity_is_a_layer_that_passes_its_input_on():
    n = net("conv3-8; identity; FC-2")
    assert ops(n) == ["input", "conv", "relu", "identity", "fc"]
    assert n.nodes[3].info.shape == n.nodes[2].info.shape and n.nodes[3].info.params == 0


# -- names for torchvision's keys ------------------------------------------------------------------


def test_a_numbered_label_counts_its_copies():
    n = net("features { denselayer{1}: { conv3-8 } ×3; stage-{0}: conv3-8 act=none ×2 }")
    assert [x for x in names(n) if x.endswith(".0") or "stage-" in x] == [
        "features.denselayer1.0", "features.denselayer2.0", "features.denselayer3.0",
        "features.stage-0", "features.stage-1"]


def test_a_position_label_keeps_a_sequential_of_one():
    # torchvision's MnasNet and EfficientNet hold a stage of one unit in a Sequential of
    # one: `layers.13.0.layers.0.weight`.
    n = net("block unit(c) { layers: { conv3-c; conv3-c act=none } }\n"
            "layers { conv3-8; {2}: { {0}: unit(8) } }")
    assert "layers.2.0.layers.0" in names(n)
    without = net("block unit(c) { layers: { conv3-c; conv3-c act=none } }\n"
                  "layers { conv3-8; { unit(8) } }")
    assert "layers.2.layers.0" in names(without)  # the unlabelled { } and the group of one fold


def test_a_position_label_must_not_take_another_submodules_place():
    with pytest.raises(archc.SemanticError, match="the label `1` is the position of another"):
        net("stage { {1}: conv3-8; conv3-8 act=none }")
    with pytest.raises(archc.SemanticError, match="names a submodule by its position"):
        net("{0}: conv3-8")


def test_hyphenated_labels_name_submodules_not_attributes():
    n = net("trunk { block1 { block1-0: conv3-8 } }")
    assert "trunk.block1.block1-0" in names(n)
    with pytest.raises(archc.SemanticError, match="at the top level of a network"):
        net("block1-0: conv3-8")


def test_block_labels_a_layer_as_torchvision_names_a_units_body():
    n = net("features { add act=none { block: { conv1-12; conv3-3 act=none }; identity } }",
            input="3x8x8")
    assert [x for x in names(n) if "block" in x] == [
        "features.block.0", "features.block.1", "features.block.2"]
    model = archc.build(n)
    assert "features.block.0.weight" in model.state_dict()
    with pytest.raises(archc.ParseError, match="`add` is a keyword and cannot be a label"):
        net("add: conv3-8")


def test_a_block_parameter_fills_a_positional_argument():
    n = net("block b(q, n=5) { conv3-8; dropout(q); LRN(n, 1e-4, 0.75, 2) }\n"
            "block d(r) { stochastic-depth(r) }\nb(0.3, n=3); d(0.2)")
    assert [x.layer.p for x in n.nodes if x.op in ("dropout", "stochastic_depth")] == [0.3, 0.2]
    assert [x.layer.size for x in n.nodes if x.op == "lrn"] == [3]
