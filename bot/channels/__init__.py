"""Channels only translate: an update or a frame becomes an inbound message; a stored reply goes out."""
