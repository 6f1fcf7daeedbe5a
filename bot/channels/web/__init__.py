"""The web-chat channel: the widget's WebSocket, visitor identity, delivery of replies to browsers."""
