# JupyterHub settings for the Keras labs' classroom hub; see coursetools/hub.py for what they do.
# python -m coursetools hub writes settings.json beside this file; change the settings there.
from pathlib import Path

from coursetools.hub import Settings, configure

c = get_config()  # noqa: F821 - JupyterHub defines it when it reads this file
configure(c, Settings.load(Path(__file__).with_name("settings.json")))
