"""``python -m hub.cli``: the same commands as the ``gongyu`` entry point (the tests run it this way)."""

from hub.cli import app

app()
