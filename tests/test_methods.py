"""The method slot and compare(): CONTRIBUTING.md's recipe "Adding a method", followed at smoke scale."""
from __future__ import annotations

import pytest

from mtlkit.errors import ConfigError
from mtlkit.methods import Architecture, get_method, list_methods, register_method, spec_of
from mtlkit.setups import SIZES, Setup, load_data, make_setup


class FirstTwoTogether:
    """A toy method: the first two tasks share the backbone, the others get their own (the recipe's example)."""

    name = "toy_first_two"

    def search(self, setup, budget, *, seed):
        from mtlkit.treemtl.enumerate import enumerate_layouts

        T, B = len(setup.tasks), setup.blocks
        layout = next(L for L in enumerate_layouts(T, B)
                      if all(sorted(map(sorted, L.groups(b))) == [[0, 1], *[[t] for t in range(2, T)]]
                             for b in range(B)))
        return Architecture(self.name, layout=str(layout))

    def build(self, setup, architecture):
        return spec_of(setup).build_model(architecture.layout, setup.tasks)


@pytest.fixture(scope="module")
def toy():
    method = register_method(FirstTwoTogether(), overwrite=True)
    yield method


def test_registry_lists_builtins_and_rejects_bad_methods(toy):
    assert {"single_task", "hard_sharing", "random", "treemtl", "automtl", "toy_first_two"} <= set(list_methods())
    assert get_method("toy_first_two") is toy
    with pytest.raises(ConfigError, match="already registered"):
        register_method(FirstTwoTogether())
    with pytest.raises(ConfigError, match="needs a non-empty str name"):
        register_method(object())
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        get_method("nope")


def test_setup_table_and_validation(tmp_path):
    setup = make_setup("methods", "synthscenes", "smoke")
    assert setup.tasks == ("segment_semantic", "depth_zbuffer", "normal") and setup.batch == 4
    assert dict(setup.backbone_kw) == {"width": 4} and setup.input_size == 32
    assert all(scale in ("smoke", "cpu", "paper") for _, _, scale in SIZES)
    with pytest.raises(ConfigError, match="no 'paper'-scale setup for dataset 'synthscenes'"):
        make_setup("methods", "synthscenes", "paper")
    with pytest.raises(ConfigError, match="subset of the tasks of SynthScenes"):
        setup.replace(tasks=("segment_semantic", "albedo"))
    with pytest.raises(ConfigError, match="needs|set data_root"):
        Setup("nyuv2", ("depth_zbuffer",), batch=2, test_batch=2)
    with pytest.raises(FileNotFoundError, match="has no NYUv2/ folder"):
        load_data(Setup("nyuv2", ("depth_zbuffer",), batch=2, test_batch=2, data_root=str(tmp_path)))
    data = load_data(setup)
    assert sorted(data.loaders) == ["test", "train", "train1", "train2"] and set(data.tasks) == set(setup.tasks)
    again = load_data(setup)
    import torch

    assert torch.equal(next(iter(data.train_loader))["image"], next(iter(again.train_loader))["image"])


def test_compare_runs_every_method_through_one_recipe(toy, tmp_path, monkeypatch):
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))
    setup = make_setup("methods", "synthscenes", "smoke")
    table = compare_methods(setup, ["hard_sharing", "toy_first_two", "random"])
    assert list(table.method) == ["single_task", "hard_sharing", "toy_first_two", "random"]
    rows = table.set_index("method")
    assert rows.loc["single_task", "delta_T"] == 0.0
    assert rows.loc["hard_sharing", "params_full"] < rows.loc["toy_first_two", "params_full"] \
        < rows.loc["single_task", "params_full"]
    # a layout trained for one method is the same cached run for another: nothing new is trained the second time
    trained = sorted(p.name for p in tmp_path.rglob("result.json"))
    again = compare_methods(setup, ["toy_first_two"])
    assert sorted(p.name for p in tmp_path.rglob("result.json")) == trained
    assert again.set_index("method").loc["toy_first_two", "delta_T"] == rows.loc["toy_first_two", "delta_T"]
    with pytest.raises(ConfigError, match="unknown method"):
        compare_methods(setup, ["nope"])


def test_automtl_in_the_method_slot(tmp_path, monkeypatch):
    """AutoMTL's architecture is a policy: compare() has it trained by the method itself, with the tree layouts'
    data, initial weights and schedule (an all-specific policy is then exactly the single-task models)."""
    import math

    from mtlkit.compare import TreeMTLStudy
    from mtlkit.treemtl.layout import Layout

    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))
    setup = make_setup("methods", "synthscenes", "smoke")
    assert "automtl" in list_methods()
    table = compare_methods(setup, ["automtl"])
    assert list(table.method) == ["single_task", "automtl"]
    row = table.set_index("method").loc["automtl"]
    assert not isinstance(row["layout"], str) and row["search_models"] == 1 and math.isfinite(row["delta_T"])
    assert 0 < row["params_full"] <= table.set_index("method").loc["single_task", "params_full"]
    method = get_method("automtl")
    arch = method.search(setup, None, seed=0)
    assert arch.layout is None and set(arch.spec["policy"]) == {v.name for v in method.supermodel(setup).nodes}
    specific = {node: {t: "specific" for t in setup.tasks} for node in arch.spec["policy"]}
    got = method.train(setup, Architecture("automtl", spec={"policy": specific, "seed": 0}))["metrics"]
    reference = TreeMTLStudy(spec_of(setup), progress=False).train(Layout.independent(3, setup.blocks))["metrics"]
    assert got == reference
    with pytest.raises(ConfigError, match="holds .'policy'"):
        method.build(setup, Architecture("automtl", spec="nope"))


class NoLayoutNoTrain(FirstTwoTogether):
    name = "toy_no_layout"

    def search(self, setup, budget, *, seed):
        return Architecture(self.name, spec={"anything": 1})


def test_compare_refuses_an_architecture_it_cannot_train(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))
    register_method(NoLayoutNoTrain(), overwrite=True)
    with pytest.raises(ConfigError, match="without a layout and has no train"):
        compare_methods(make_setup("methods", "synthscenes", "smoke"), ["toy_no_layout"])


def compare_methods(*args, **kwargs):
    from mtlkit.compare import compare

    return compare(*args, **kwargs)


def test_contributing_has_the_four_recipes():
    from mtlkit.paths import checkout

    text = (checkout() / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for heading in ("Adding a backbone", "Adding a task", "Adding a method", "Adding a paper table"):
        assert f"### {heading}\n" in text
    assert "register_method(MyMethod())" in text and "tests/test_methods.py" in text
