"""The contract's chat front ends (CONTRACT §5): ``POST /api/chat`` (SSE, or JSON with
``stream: false``) and the ``/ws/chat/`` WebSocket, each a small renderer of a chat
session's typed events (``payloads.py``)."""
