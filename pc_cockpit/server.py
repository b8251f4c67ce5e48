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
    """Import the pages' dependencies (the cockpit's modules and theirs), and do now the
    one-time work Streamlit would otherwise do in the first page view."""
    import httpcore  # noqa: F401  (httpx imports it on the first client)
    import pandas  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import plotly.offline  # noqa: F401  (st.plotly_chart)
    import pyarrow.pandas_compat  # noqa: F401  (st.dataframe's table → arrow)
    import pyarrow.vendored.version  # noqa: F401
    import streamlit.delta_generator
    import streamlit.emojis  # noqa: F401  (the page icons: its catalogue takes ~0.5 s)

    import krx_common.words  # noqa: F401  (the Overview's risk texts)
    import pc_cockpit.charts  # noqa: F401
    import pc_cockpit.client  # noqa: F401
    import pc_cockpit.forms  # noqa: F401
    import pc_cockpit.sync_ui  # noqa: F401
    import pc_cockpit.ui  # noqa: F401
    import strategy.calendar  # noqa: F401
    import strategy.ticketing  # noqa: F401
    from pc_cockpit.client import tls_context

    tls_context()
    # The first element a process draws asks whether it runs in a REPL (to warn that it is
    # not under `streamlit run`): `inspect.stack()` over every loaded module, ~0.4 s on 2
    # cores, paid by the first visitor. This process is `streamlit run`; the answer is no.
    streamlit.delta_generator._use_warning_has_been_displayed = True


def cockpit_command(port: int) -> list[str]:
    """`streamlit run` of the cockpit on loopback, headless, no telemetry, no file watcher
    (through `pc_cockpit.server`, which imports the pages' dependencies first).

    No "magic" (the pages never write a bare expression; without it Streamlit compiles a
    page without rewriting its syntax tree first) and no forced full garbage collection after
    every run (0.2–0.5 s of CPU after each page run and each 3-second fragment refresh, on the
    two cores the next page view needs; Python's own collector still runs)."""
    return [
        sys.executable, "-m", "pc_cockpit.server", "run", str(APP),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--runner.magicEnabled", "false",
        "--runner.postScriptGC", "false",
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
