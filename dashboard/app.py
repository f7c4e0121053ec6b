"""Entry point: `streamlit run dashboard/app.py`. Lays out the pages; each page owns its content."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts dashboard/ on the path, not the repository
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import ui  # noqa: E402
from dashboard.state import session  # noqa: E402
from dashboard.workers.pool import get_pool  # noqa: E402

ICON = ROOT / "assets" / "icon.png"  # served by the app itself: nothing is fetched from the internet


def _server_log() -> None:
    """Errors caught on a page go to the server's stderr (once per process, however often the script reruns)."""
    logger = logging.getLogger("dashboard")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


_server_log()
st.set_page_config(page_title="DEN — watch a network grow", page_icon=str(ICON), layout="wide")

pages = [
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:", default=True),
    st.Page("app_pages/inspector.py", title="Inspect a task", icon=":material/manage_search:", url_path="inspect"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/folder_open:", url_path="runs"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("app_pages/learn.py", title="Learn", icon=":material/school:", url_path="learn"),
]
page = st.navigation(pages, position="top")

try:
    page.run()
except ui.USER_ERRORS as exc:
    ui.user_error_ui(exc)
except Exception as exc:  # noqa: BLE001 - the last guard: a message, never a raw traceback
    ui.unexpected_error_ui(exc)
finally:
    if not session.sync_training():
        get_pool()  # the training workers start importing once the first screen is drawn, not while it draws
