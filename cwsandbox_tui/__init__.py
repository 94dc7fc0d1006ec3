"""cwsandbox-tui: a keyboard-driven terminal dashboard for CoreWeave Sandboxes."""

__version__ = "0.1.0"
