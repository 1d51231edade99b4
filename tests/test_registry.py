"""The plugin registry: built-ins, entry points, clashes, broken plugins, lookup, gin."""

from __future__ import annotations

import sys
import textwrap
import types

import gin
import pytest

import disentangle_bench
from disentangle_bench import hookimpl
from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import ConfigError, PluginError, UnknownPluginError


def make_plugin(**hooks):
    """A plugin object whose hooks return the given lists."""
    namespace = {}
    for hook, objects in hooks.items():

        def impl(objects=objects):
            return objects

        impl.__name__ = hook
        namespace[hook] = hookimpl(impl)
    return types.SimpleNamespace(**namespace)


class DummyMetric:
    name = "constant_score"

    def __init__(self, value: float = 0.5):
        self.value = value

    def __call__(self, ground_truth_data, representation_function, random_state):
        return {"score": self.value}


def install_fake_distribution(
    tmp_path,
    monkeypatch,
    module_source,
    *,
    dist="fake-plugin",
    version="1.2.3",
    entry_name="fake",
    module="fake_bench_plugin",
):
    """Make an entry point visible through importlib.metadata, as an installed wheel would."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = tmp_path / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[disentangle_bench]\n{entry_name} = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)


def test_hookimpl_is_exported_from_the_package_root():
    assert disentangle_bench.hookimpl is hookimpl


def test_builtins_are_registered_through_the_hooks():
    registry = Registry()
    assert {"dsprites", "dsprites_small", "shapes3d", "linear", "dsprites_oblique_010"} <= set(
        registry.names("datasets")
    )
    assert {"noise", "oblique", "oblique_shuffled", "linear_mix", "external"} <= set(
        registry.names("perturbations")
    )
    assert set(registry.names("models")) == {
        "ae",
        "ada_gvae",
        "annealed_vae",
        "beta_tc_vae",
        "beta_vae",
        "dip_vae_i",
        "dip_vae_ii",
        "factor_vae",
        "pcl",
        "slow_vae",
    }
    assert "mig" in registry.names("metrics")
    entry = registry.get("models", "beta_vae")
    assert entry.plugin == "disentangle_bench.models.plugin"
    assert entry.distribution.startswith("disentangle-bench ")


def test_third_party_entry_point_is_loaded_with_its_distribution(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        """
        from disentangle_bench import hookimpl

        class Constant:
            name = "constant_score"
            def __init__(self, value=0.25):
                self.value = value
            def __call__(self, data, represent, random_state):
                return {"score": self.value}

        @hookimpl
        def register_metrics():
            return [Constant]
    """,
    )
    registry = Registry(autoload=True)
    entry = registry.get("metrics", "constant_score")
    assert (entry.plugin, entry.distribution) == ("fake", "fake-plugin 1.2.3")
    # Its hyperparameters are bound from gin under its name, like the built-ins'.
    gin.parse_config("constant_score.value = 0.75")
    assert registry.build("metrics", "constant_score")(None, None, None) == {"score": 0.75}


def test_environment_variable_disables_autoloading(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        """
        from disentangle_bench import hookimpl

        @hookimpl
        def register_metrics():
            return []
    """,
    )
    monkeypatch.setenv("DISENTANGLE_BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "fake" not in {e.plugin for e in Registry().entries()}
    monkeypatch.delenv("DISENTANGLE_BENCH_DISABLE_PLUGIN_AUTOLOAD")
    assert Registry()._manager.has_plugin("fake")


def test_plugins_can_be_named_explicitly_in_the_environment(tmp_path, monkeypatch):
    (tmp_path / "explicit_plugin.py").write_text(
        textwrap.dedent("""
        from disentangle_bench import hookimpl

        class Constant:
            name = "explicit_score"
            def __call__(self, data, represent, random_state):
                return {"score": 1.0}

        @hookimpl
        def register_metrics():
            return [Constant]
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DISENTANGLE_BENCH_PLUGINS", "explicit_plugin")
    assert Registry().get("metrics", "explicit_score").plugin == "explicit_plugin"


def test_plugin_that_fails_to_import_names_itself_and_its_distribution(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        "raise ImportError('no module named foo')",
        dist="broken-plugin",
        version="0.0.1",
        entry_name="broken",
    )
    with pytest.raises(PluginError) as error:
        Registry(autoload=True)
    message = str(error.value)
    assert "'broken'" in message and "broken-plugin 0.0.1" in message
    assert "no module named foo" in message


def test_name_clash_names_both_plugins():
    clash = make_plugin(register_models=[type("Impostor", (), {"name": "beta_vae"})])
    with pytest.raises(PluginError) as error:
        Registry(plugins=[clash])
    assert "plugin name 'beta_vae' is registered twice" in str(error.value)
    assert "plugin 'disentangle_bench.models.plugin' (distribution disentangle-bench" in str(
        error.value
    )
    assert "plugin 'SimpleNamespace' (distribution (not installed))" in str(error.value)


def test_hook_that_raises_is_reported_with_its_plugin():
    def failing():
        raise RuntimeError("boom")

    plugin = types.SimpleNamespace(register_metrics=hookimpl(failing))
    plugin.register_metrics.__name__ = "register_metrics"
    with pytest.raises(PluginError, match="register_metrics.*RuntimeError: boom"):
        Registry(plugins=[plugin])


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        (object(), "no string attribute 'name'"),
        (type("Bad", (), {"name": "Bad-Name"}), "invalid"),
        (types.SimpleNamespace(name="not_callable"), "not callable"),
    ],
)
def test_objects_that_break_the_contract_are_rejected(obj, problem):
    with pytest.raises(PluginError, match=problem):
        Registry(plugins=[make_plugin(register_metrics=[obj])])


def test_built_object_missing_its_methods_is_rejected_naming_the_plugin():
    class NotAModel:
        name = "not_a_model"

        def __init__(self, observation_shape):
            pass

    plugin = make_plugin(register_models=[NotAModel])
    registry = Registry(plugins=[plugin])
    with pytest.raises(PluginError, match=r"'not_a_model' built a NotAModel without encode, loss"):
        registry.build("models", "not_a_model", observation_shape=(64, 64, 1))


def test_unknown_name_suggests_the_closest():
    registry = Registry()
    with pytest.raises(UnknownPluginError, match="did you mean 'beta_vae'"):
        registry.get("models", "beta_vea")
    with pytest.raises(UnknownPluginError, match="installed metrics: .*mig"):
        registry.get("metrics", "zzz")
    with pytest.raises(UnknownPluginError, match="unknown plugin kind"):
        registry.get("optimizers", "adam")


def test_gin_bindings_reach_the_factory_and_bad_values_are_config_errors():
    registry = Registry(plugins=[make_plugin(register_metrics=[DummyMetric])])
    gin.parse_config("constant_score.value = 0.125")
    assert registry.build("metrics", "constant_score")(None, None, None) == {"score": 0.125}
    gin.parse_config("beta_vae.beta = -1.0")
    with pytest.raises(ConfigError, match="model 'beta_vae': beta must be non-negative"):
        registry.build("models", "beta_vae", observation_shape=(64, 64, 1))


def test_runtime_arguments_cannot_be_bound_in_gin():
    Registry()
    with pytest.raises(ValueError, match="observation_shape"):
        gin.parse_config("beta_vae.observation_shape = (64, 64, 3)")


class NamedMetric:
    """A metric plugin object with a configurable name (the name is what the clash tests vary)."""

    def __init__(self, **kwargs):
        pass

    def __call__(self, ground_truth_data, representation_function, random_state):
        return {"score": 0.0}


def _metric_named(name):
    return type(f"Metric_{name}", (NamedMetric,), {"name": name})


@pytest.mark.parametrize(
    "name, other",
    [("noise", "perturbation 'noise'"), ("train", "gin configurable 'train'")],
)
def test_names_are_unique_across_kinds_and_the_runner(name, other):
    with pytest.raises(PluginError) as error:
        Registry(plugins=[make_plugin(register_metrics=[_metric_named(name)])])
    message = str(error.value)
    assert "\n" not in message
    assert "SimpleNamespace" in message and "(not installed)" in message
    if name == "noise":  # both plugins and their distributions are named
        assert "perturbation by plugin 'disentangle_bench.perturbations.plugin'" in message
        assert "metric by plugin 'SimpleNamespace'" in message
    else:
        assert "disentangle-bench's own gin configurable 'train'" in message


def test_a_cross_kind_clash_stops_bench_with_one_line(tmp_path, monkeypatch, capsys):
    module = tmp_path / "clashing_metric.py"
    module.write_text(
        "from disentangle_bench import hookimpl\n"
        "class Noise:\n"
        "    name = 'noise'\n"
        "    def __call__(self, data, representation, random_state):\n"
        "        return {'score': 0.0}\n"
        "@hookimpl\n"
        "def register_metrics():\n"
        "    return [Noise]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DISENTANGLE_BENCH_PLUGINS", "clashing_metric")
    from disentangle_bench.cli import main

    assert main(["plugins", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'noise'" in err and "clashing_metric" in err and "perturbations.plugin" in err


def test_reserved_names_cover_every_runner_configurable():
    """Every gin configurable the runner registers is reserved (gin's registry, read in a test)."""
    import gin.config

    import disentangle_bench.metrics  # noqa: F401 - registers the metric helpers
    import disentangle_bench.pipeline.evaluation  # noqa: F401
    import disentangle_bench.pipeline.experiment  # noqa: F401
    import disentangle_bench.pipeline.training  # noqa: F401
    import disentangle_bench.sweeping.study  # noqa: F401
    from disentangle_bench.registry import RESERVED_GIN_NAMES

    own = {
        selector.split(".")[-1]
        for selector, configurable in gin.config._REGISTRY.items()
        if getattr(configurable.wrapped, "__module__", "").startswith("disentangle_bench.")
        and not selector.startswith(("datasets.", "perturbations.", "models.", "metrics."))
    }
    assert own, "no configurables found: the test reads the wrong registry"
    assert own <= RESERVED_GIN_NAMES


def test_hooks_run_through_pluggy_in_tryfirst_order(monkeypatch):
    calls = []

    class First:
        @hookimpl(tryfirst=True)
        def register_metrics(self):
            calls.append("first")
            return [_metric_named("first_metric")]

    class Last:
        @hookimpl(trylast=True)
        def register_metrics(self):
            calls.append("last")
            return [_metric_named("last_metric")]

    registry = Registry(plugins=[Last(), First()])
    assert calls == ["first", "last"]
    assert registry.get("metrics", "first_metric").plugin == "First"
    assert registry.get("metrics", "last_metric").plugin == "Last"


def test_hook_wrappers_are_refused_with_one_message():
    class Wrapper:
        @hookimpl(wrapper=True)
        def register_metrics(self):
            return (yield)

    with pytest.raises(PluginError, match="hook wrapper") as error:
        Registry(plugins=[Wrapper()])
    assert "'Wrapper'" in str(error.value) and "\n" not in str(error.value)


def test_a_raising_hook_names_its_plugin():
    class Broken:
        @hookimpl
        def register_models(self):
            raise RuntimeError("boom")

    with pytest.raises(PluginError, match=r"'Broken'.*register_models\(\) raised RuntimeError"):
        Registry(plugins=[Broken()])


def test_trace_prints_every_hook_call_and_its_names(monkeypatch, capsys):
    monkeypatch.setenv("DISENTANGLE_BENCH_TRACE_PLUGINS", "1")
    Registry(plugins=[make_plugin(register_metrics=[_metric_named("traced_metric")])])
    err = capsys.readouterr().err
    for hook in ("register_datasets", "register_perturbations", "register_models"):
        assert f"[plugins] {hook}() -> " in err
    assert "[plugins] register_metrics() SimpleNamespace: traced_metric" in err
    assert "register_models() disentangle_bench.models.plugin: beta_vae" in err
