"""The Textual dashboard. It acts only through the client and renders the client's events."""
