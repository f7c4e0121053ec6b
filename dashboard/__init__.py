"""The Streamlit dashboard: pure figure builders, layouts, and the pages that use them."""
