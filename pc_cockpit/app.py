"""The cockpit's entry script (`krx cockpit` runs `streamlit run` on this file).

It sets the page up, draws the sidebar every page shares (language, connection badge,
emergency stop) and hands over to the selected page (`st.navigation`, one file per page
under `pages/`).
"""

from __future__ import annotations

import streamlit as st

from pc_cockpit import ui
from pc_cockpit.i18n import t

st.set_page_config(page_title="KRX Alertor", page_icon="📈", layout="wide",
                   initial_sidebar_state="expanded")
ui.init_session()

# (file, title key, icon, url path); the first is the default page.
PAGES = (
    ("pages/overview.py", "nav.overview", "🏠", "overview"),
    ("pages/order_plan.py", "nav.plan", "📋", "plan"),
    ("pages/portfolio.py", "nav.portfolio", "💼", "portfolio"),
    ("pages/strategy.py", "nav.strategy", "⚙️", "strategy"),
    ("pages/tickets.py", "nav.tickets", "🎫", "tickets"),
    ("pages/backtest.py", "nav.backtest", "📈", "backtest"),
    ("pages/audit.py", "nav.audit", "🧾", "audit"),
    ("pages/broker.py", "nav.broker", "🏦", "broker"),
)

# The language toggle lives in the sidebar; read it first so the navigation is labelled in it.
st.session_state["lang"] = "en" if st.session_state.get("lang_en") else "ko"
navigation = st.navigation([
    st.Page(path, title=t(key), icon=icon, url_path=url, default=(i == 0))
    for i, (path, key, icon, url) in enumerate(PAGES)
])
ui.sidebar()
navigation.run()
