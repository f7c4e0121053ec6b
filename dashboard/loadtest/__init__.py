"""Load test of the Learn page: N simulated tabs over Streamlit's websocket (`python -m dashboard.loadtest`)."""
