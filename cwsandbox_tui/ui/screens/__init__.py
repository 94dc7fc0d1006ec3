"""Screens of the dashboard and its dialogs."""
