"""Load test of the Learn page: N simulated tabs over Streamlit's websocket protocol (`python -m dashboard.loadtest`)."""
