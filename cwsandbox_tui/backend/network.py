"""The network modes a sandbox can get from this backend, and the choice for one request.

Isolated sandboxes each have their own network namespace holding nothing but a loopback
interface: no route to the host's loopback (where this backend listens), its interfaces or
the internet. Egress is `none`. Ingress is `none` too unless ports are published: then they
are forwarded from an address of the host's loopback into the namespace (forwards.py), the
one "outside" this machine has, for `public` and `private` alike. Unisolated sandboxes share
the host's network, and the mode says so: `host`. A mode this machine cannot provide is
refused at Start, never replaced by another.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import invalid

NONE = "none"
HOST = "host"
PUBLIC = "public"
PRIVATE = "private"


@dataclass(frozen=True)
class NetworkOffer:
    """The modes sandboxes of this backend can get (published through discovery profiles)."""

    ingress_modes: tuple[str, ...]
    egress_modes: tuple[str, ...]
    exposed_ports: bool  # whether `exposed_ports` can be honoured

    @property
    def default_ingress(self) -> str:
        return self.ingress_modes[0]

    @property
    def default_egress(self) -> str:
        return self.egress_modes[0]


ISOLATED = NetworkOffer(ingress_modes=(NONE, PUBLIC, PRIVATE), egress_modes=(NONE,),
                        exposed_ports=True)
SHARED_HOST = NetworkOffer(ingress_modes=(HOST,), egress_modes=(HOST,), exposed_ports=True)


def offer(isolated: bool) -> NetworkOffer:
    return ISOLATED if isolated else SHARED_HOST


@dataclass(frozen=True)
class AppliedNetwork:
    ingress_mode: str
    egress_mode: str


def choose(available: NetworkOffer, ingress_mode: str, egress_mode: str,
           exposed_ports: list[int]) -> AppliedNetwork:
    """The modes a request gets, or INVALID_ARGUMENT naming the field this machine can't honour.

    An empty mode means "the default", which is the first offered.
    """
    for field_name, wanted, modes in (("network.ingress_mode", ingress_mode,
                                       available.ingress_modes),
                                      ("network.egress_mode", egress_mode,
                                       available.egress_modes)):
        if wanted and wanted not in modes:
            raise invalid(field_name, f"{wanted!r} is not offered by this backend; "
                                      f"it offers {', '.join(repr(m) for m in modes)}")
    if exposed_ports and not available.exposed_ports:
        raise invalid("network.exposed_ports",
                      "cannot be honoured: sandboxes here have no ingress from outside")
    for port in exposed_ports:
        if not 1 <= port <= 65535:
            raise invalid("network.exposed_ports", f"{port} is not a port number (1-65535)")
    if exposed_ports and ingress_mode == NONE:
        raise invalid("network.ingress_mode", "'none' publishes no ports; ask for 'public' or "
                                              "'private' with exposed ports")
    if not ingress_mode:  # published ports are reached from outside: public, unless asked
        ingress_mode = (PUBLIC if exposed_ports and PUBLIC in available.ingress_modes
                        else available.default_ingress)
    return AppliedNetwork(ingress_mode, egress_mode or available.default_egress)
