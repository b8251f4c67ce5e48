"""`python -m pc_cockpit.server run APP [streamlit flags]`: Streamlit's own CLI, after importing
what the pages use (pandas, plotly, the contracts, the report's figure builders).

Streamlit runs page scripts in this process, so the first page view finds these modules
already imported instead of paying for them (about a second on 2 cores) while the operator
waits for the Overview.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def preload() -> None:
    """Import the pages' dependencies (the cockpit's modules and theirs)."""
    import pandas  # noqa: F401
    import plotly.graph_objects  # noqa: F401

    import pc_cockpit.charts  # noqa: F401
    import pc_cockpit.client  # noqa: F401
    import pc_cockpit.forms  # noqa: F401
    import pc_cockpit.sync_ui  # noqa: F401
    import pc_cockpit.ui  # noqa: F401
    import strategy.calendar  # noqa: F401
    import strategy.ticketing  # noqa: F401


def cockpit_command(port: int) -> list[str]:
    """`streamlit run` of the cockpit on loopback, headless, no telemetry, no file watcher
    (through `pc_cockpit.server`, which imports the pages' dependencies first)."""
    return [
        sys.executable, "-m", "pc_cockpit.server", "run", str(APP),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "minimal",
        "--theme.base", "light",
    ]


def main(argv: list[str] | None = None) -> int:
    from streamlit.web import cli

    preload()
    sys.argv = ["streamlit", *(sys.argv[1:] if argv is None else argv)]
    return int(cli.main() or 0)  # click exits itself; the return is for completeness


if __name__ == "__main__":
    sys.exit(main())
