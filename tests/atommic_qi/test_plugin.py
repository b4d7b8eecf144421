"""atommic-qi's entry point: a loaded plugin of its own distribution with models and configs."""

from pathlib import Path

from atommic_core import plugins, registry
from atommic_core.cli.config import find_config_dir


def test_qi_is_a_loaded_plugin_of_its_own_distribution():
    record = {r.name: r for r in plugins.plugin_records()}["qi"]
    assert record.error is None and record.distribution == "atommic-qi"


def test_models_register_through_the_hook():
    for name in ("qZeroFilled", "qRIM", "qCIRIM", "qVarNet"):
        entry = registry.models.entry(name)
        assert (entry.plugin, entry.distribution) == ("qi", "atommic-qi")
        assert entry.obj.__name__ == name


def test_every_model_ships_a_config():
    import atommic_qi.plugin as plugin

    (folder,) = plugin.atommic_config_dirs()
    names = {p.stem for p in Path(folder).glob("*.yaml")}
    assert {"qi_zero_filled", "qi_rim", "qi_cirim", "qi_varnet", "qi_demo_cirim"} <= names
    assert find_config_dir(None, "qi_cirim") == Path(folder)
