"""Asking for a new sandbox: the form (again, with the reasons, when the server refused it),
and on submit a `StartSandbox` for the app. Views and the app's palette entry both ask here."""

from __future__ import annotations

from typing import Any

from textual.app import App

from ...client.connection import EndpointInfo
from ..messages import StartSandbox
from .dialogs import FormResult
from .forms import new_sandbox_form


def say_sandboxes_refused(app: App[Any], info: EndpointInfo) -> None:
    app.notify(info.isolation_detail or "The local backend cannot isolate sandboxes, so it "
               "refuses to start any.", title="No sandboxes can start", severity="error",
               timeout=30, markup=False)


def ask_new_sandbox(app: App[Any], info: EndpointInfo, restore_from: str = "",
                    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                    mount_path: str = "", refused: str = "") -> None:
    if info.sandboxes_refused:  # before a form is filled in for nothing
        say_sandboxes_refused(app, info)
        return

    def submitted(result: FormResult | None) -> None:
        if result is not None:
            app.post_message(StartSandbox(result.values))

    app.push_screen(new_sandbox_form(restore_from, errors, values, mount_path, refused),
                    submitted)
