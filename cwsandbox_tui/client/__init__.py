"""The worker client: one background client for every screen and command.

It speaks gRPC to a CoreWeave Sandbox endpoint (or the embedded backend), applies the
official SDK's retry, deadline and stop rules, and reports everything as typed events.
It never imports Textual.
"""
