"""Server: the FastAPI app, WebSocket streaming, recording and the web UI.

Empty until the server issue lands; it meets the other parts only on the bus.
"""
