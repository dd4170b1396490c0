"""The classroom hub's deployable settings: Zero to JupyterHub's values, JupyterHub's config.

hub/values.yaml is merged into the chart's defaults, as Helm does, and validated against the
chart's schema (tests/z2jh/, with its source and license); its budgets and nbgrader settings
must be those of the one-server hub (coursetools.hub). No cluster and no root needed.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

pytest.importorskip("jupyterhub", reason="the hub needs JupyterHub: requirements-dev.txt")
jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

from traitlets.config import Config  # noqa: E402

from coursetools.hub import (  # noqa: E402
    CONFIG_FILE,
    Settings,
    configure,
    nbgrader_config,
    start,
)

ROOT = Path(__file__).parents[1]
CHART = Path(__file__).parent / "z2jh"


def merged(defaults: dict, values: dict) -> dict:
    """Helm's merge of an installation's values into the chart's defaults (maps recursively)."""
    out = dict(defaults)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((ROOT / "hub" / "values.yaml").read_text(encoding="utf-8"))


def test_the_values_are_valid_for_the_chart(values):
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(merged(defaults, values))
    ]
    assert not errors, "\n".join(errors)
    # The schema catches a misspelt key: a check that it is really being applied.
    wrong = merged(defaults, {"singleuser": {"memory": {"limits": "2G"}}})
    assert any("limits" in error.message for error in validator.iter_errors(wrong))


def test_the_cluster_has_the_one_server_hubs_budgets_and_exchange(values):
    settings = Settings()
    single = values["singleuser"]
    assert single["memory"] == {"guarantee": settings.mem_guarantee, "limit": settings.mem_limit}
    assert single["cpu"] == {"guarantee": settings.cpu_guarantee, "limit": settings.cpu_limit}
    assert values["cull"]["timeout"] == settings.cull_after
    mounts = {m["mountPath"]: m for m in single["storage"]["extraVolumeMounts"]}
    assert mounts[single["extraEnv"]["LABHELPERS_DATA_DIR"]]["readOnly"] is True
    assert settings.exchange in mounts and not mounts[settings.exchange].get("readOnly")
    for role in ("student", "grader"):
        text = single["extraFiles"][f"nbgrader-{role}"]["stringData"]
        assert text == nbgrader_config(settings, role)


def test_the_checked_in_jupyterhub_config_is_the_one_the_command_writes():
    assert (ROOT / "hub" / "jupyterhub_config.py").read_text(encoding="utf-8") == CONFIG_FILE


def test_the_one_server_hub_settings():
    settings = Settings(instructors=["kl-teacher"], students=["kl-alice"], data="/srv/data")
    c = Config()
    configure(c, settings)
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.Authenticator.allowed_users == {"kl-teacher", "kl-alice"}
    assert c.ConfigurableHTTPProxy.api_url.startswith("http://127.0.0.1:")
    assert c.Spawner.mem_limit == "2G" and c.Spawner.cpu_limit == 2.0
    assert c.Spawner.environment["LABHELPERS_DATA_DIR"] == "/srv/data"
    culler = c.JupyterHub.services[0]
    assert culler["name"] == "idle-culler" and "--timeout=3600" in culler["command"]
    assert set(c.JupyterHub.load_roles[0]["scopes"]) >= {"list:users", "delete:servers"}


def test_the_hub_starts_with_sigint_at_its_default(tmp_path, monkeypatch):
    # A hub started in the background of a script inherits SIGINT ignored; JupyterHub stops its
    # services (the idle culler) with SIGINT, and would wait 30 s for each that ignored it too.
    ran = []

    def execv(path, args):
        ran.append((path, args, signal.getsignal(signal.SIGINT)))

    monkeypatch.setattr(os, "execv", execv)
    monkeypatch.chdir(tmp_path)  # start() runs JupyterHub from the state folder
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        start(Settings(state=str(tmp_path)))
    finally:
        signal.signal(signal.SIGINT, previous)
    [(path, args, handler)] = ran
    assert handler == signal.SIG_DFL
    assert Path(path).name == "jupyterhub"
    assert args[1:] == ["--config", str(tmp_path / "jupyterhub_config.py")]
