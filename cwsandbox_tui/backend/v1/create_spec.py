"""A v1 `SandboxSpec` as the engine's start: every field honoured, or refused by its name.

Honoured: one container (name, image, command, args, environment, working_dir), its `files`
(written into the sandbox's /tmp or its mount before the command runs, as v1beta2's
`mounted_files`), its resources and the spec's `runner_ids` (placement, as v1beta2's), one
scratch volume mounted once, tags, lifetime, `annotations` and `display_name` (kept and
echoed), TCP `services` (published at the sandbox's service address, public or private),
either placement mode (the one local runner serves CKS and serverless alike), network and
security asks this machine already enforces (deny egress/ingress, no DNS, no capabilities,
uid 0).

Refused, never dropped, in the service's words: what the service itself does not implement
(more than one container, public and private services together, UDP/SCTP services, HTTPS
endpoints) is UNIMPLEMENTED with reason CWSANDBOX_NOT_IMPLEMENTED, TLS passthrough endpoints
carry CWSANDBOX_TLS_PASSTHROUGH_ENDPOINTS_NOT_SUPPORTED; what this machine cannot give (secret
stores, image pull credentials, object storage, network ids and configs, egress the sandbox
has no network for, GPUs, instance types, runtime classes, privilege, probes...) is
INVALID_ARGUMENT naming the field (AIP-193).

A field left at its default is not an ask: that is what SDK 1.22.0 sends unless told otherwise
(`Sandbox.run()` fills only the container's name, image, command and args, the scratch volume
of `FileSystemSnapshotOptions`, tags, lifetime and `mode` UNSPECIFIED, or CKS with runner ids).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ...proto.v1 import runtime_class_pb2 as runtime_pb
from ...proto.v1 import sandbox_pb2 as pb
from .. import network
from ..discovery import PlacementAsk, ResourceAsk
from ..errors import invalid, not_offered
from ..start_files import FileFields
from ..store import StoredSpec
from . import convert

SPEC = "sandbox.spec"
CONTAINER = f"{SPEC}.containers[0]"
NETWORK = f"{SPEC}.network"
SECURITY = f"{CONTAINER}.security_context"
FILE_FIELDS = FileFields(entries=f"{CONTAINER}.files", path="path", content="content")

# The engine names fields as v1beta2 does; these are their v1 names in a create request.
ENGINE_FIELDS = {
    "command": f"{CONTAINER}.command",
    "max_lifetime_seconds": f"{SPEC}.max_lifetime_seconds",
    "file_system.mount_path": f"{CONTAINER}.volume_mounts[0].mount_path",
    "file_system.size": f"{SPEC}.volumes[0].scratch.size",
    "resource_requests.cpu": f"{CONTAINER}.resource_requirements.requests.cpu",
    "resource_requests.memory": f"{CONTAINER}.resource_requirements.requests.memory",
}

# Kubernetes annotation keys: an optional DNS-subdomain prefix and '/', then a name.
_ANNOTATION_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_CAPABILITY = re.compile(r"[A-Za-z][A-Za-z_]{0,63}")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@dataclass(frozen=True)
class Machine:
    """What this backend can give a sandbox."""

    network: network.NetworkOffer
    isolated: bool

    @property
    def has_egress(self) -> bool:
        return network.NONE not in self.network.egress_modes

    @property
    def has_ingress(self) -> bool:
        return network.NONE not in self.network.ingress_modes


@dataclass
class EngineStart:
    """What `Engine.start` takes for one create."""

    spec: StoredSpec
    restore: str = ""
    ask: PlacementAsk = field(default_factory=PlacementAsk)
    files: list[tuple[str, bytes]] = field(default_factory=list)


def engine_start(sandbox: pb.Sandbox, machine: Machine) -> EngineStart:
    """The engine's start from a v1 sandbox, or INVALID_ARGUMENT naming the first field that
    asks for what this machine cannot give (checked before any state changes)."""
    spec = sandbox.spec
    container = _one_container(spec)
    _refuse_unoffered(spec)
    _check_mode(spec)
    _check_network(spec.network, machine)
    _check_container(container, machine)
    services, visibility = _services(spec)
    volume_name, mount_path, size, restore = _scratch_volume(spec, container)
    annotations = _annotations(spec)
    requests, limits = _resources(container)
    for index, runner_id in enumerate(spec.runner_ids):
        if not runner_id:
            raise invalid(f"{SPEC}.runner_ids[{index}]", "must not be empty")
    engine_spec = StoredSpec(
        command=container.command, args=list(container.args), container_image=container.image,
        tags=list(spec.tags), env=dict(container.environment_variables), mount_path=mount_path,
        mount_size=size, max_lifetime_seconds=spec.max_lifetime_seconds,
        volume_name=volume_name, container_name=container.name, annotations=annotations,
        display_name=sandbox.display_name, services=services, ingress_mode=visibility,
        working_dir=_working_dir(container))
    ask = PlacementAsk(runner_ids=tuple(spec.runner_ids), requests=requests, limits=limits,
                       ingress_mode=visibility)
    return EngineStart(engine_spec, restore, ask,
                       [(entry.path, entry.content) for entry in container.files])


def _one_container(spec: pb.SandboxSpec) -> pb.Container:
    if not spec.containers:
        raise invalid(f"{SPEC}.containers", "one container is required")
    if len(spec.containers) > 1:
        raise not_offered(f"{SPEC}.containers", f"{len(spec.containers)} containers asked for: "
                                                "not implemented, only one container per "
                                                "sandbox is")
    container = spec.containers[0]
    if not container.name:
        raise invalid(f"{CONTAINER}.name", "is required")
    return container


# Fields of a spec, a container and its security context that ask for what this backend
# cannot give, each with why; a field left at its default asks nothing.
_SPEC_UNOFFERED = (
    ("network_ids", "the local backend has no sandbox networks to attach"),
    ("network_config_id", "the local backend has no network configurations"),
    ("object_storage_access", "cannot be honoured: the local backend has no object storage"),
    ("instance_type", "the local backend has no instance types: a sandbox runs on this machine "
                      "as it is"),
    ("runtime_class", "the local backend has no runtime classes to choose from (sandboxes run "
                      "under bubblewrap, or unisolated)"),
)
_CONTAINER_UNOFFERED = (
    ("secret_stores", "the local backend has no secret stores to inject secrets from"),
    ("image_pull_credentials", "the local backend pulls no images (the command runs on this "
                               "machine's own root file system), so it cannot use registry "
                               "credentials"),
    ("startup_probe", "the local backend runs no probes"),
)
_SECURITY_UNOFFERED = (
    ("privileged", "sandboxes here never run privileged: every capability is dropped"),
    ("allow_privilege_escalation", "sandboxes here run with no_new_privs: no privilege can be "
                                   "gained"),
    ("capabilities_add", "sandboxes here run with every capability dropped; none can be added"),
    ("seccomp_profile", "the local backend applies no seccomp profiles"),
)


def _refuse_asked(message: Any, where: str, unoffered: tuple[tuple[str, str], ...]) -> None:
    """INVALID_ARGUMENT naming the first field of `message` in `unoffered` that asks anything."""
    for name, why in unoffered:
        value = getattr(message, name)
        if value.ByteSize() if hasattr(value, "ByteSize") else value:
            raise invalid(f"{where}.{name}", why)


def _refuse_unoffered(spec: pb.SandboxSpec) -> None:
    _refuse_asked(spec, SPEC, _SPEC_UNOFFERED)
    selection = spec.runtime_class_selection
    if selection not in runtime_pb.RuntimeClass.values():
        raise invalid(f"{SPEC}.runtime_class_selection", f"{selection} is not a RuntimeClass")
    if selection not in (runtime_pb.RUNTIME_CLASS_UNSPECIFIED,
                         runtime_pb.RUNTIME_CLASS_CPU_DEFAULT):
        raise invalid(f"{SPEC}.runtime_class_selection",
                      f"{runtime_pb.RuntimeClass.Name(selection)} is not offered by the local "
                      "backend; it offers RUNTIME_CLASS_CPU_DEFAULT only")


def _check_mode(spec: pb.SandboxSpec) -> None:
    if spec.mode not in pb.SandboxMode.values():
        raise invalid(f"{SPEC}.mode", f"{spec.mode} is not a SandboxMode")


def _check_network(options: pb.NetworkOptions, machine: Machine) -> None:
    """Network asks against what sandboxes here have: with isolation, a network namespace
    holding only loopback (no egress, no ingress, no DNS); without it, the host's network."""
    if options.dns_egress not in pb.DNSEgressMode.values():
        raise invalid(f"{NETWORK}.dns_egress", f"{options.dns_egress} is not a DNSEgressMode")
    for index, egress in enumerate(options.egress):
        _check_egress_rule(egress, f"{NETWORK}.egress[{index}]")
    for index, ingress in enumerate(options.ingress):
        _check_ingress_rule(ingress, f"{NETWORK}.ingress[{index}]")
    if options.deny_egress and options.egress:
        raise invalid(f"{NETWORK}.egress", "cannot be combined with deny_egress")
    none = ("sandboxes here have no network (each has its own network namespace holding only "
            "loopback)")
    shared = "sandboxes here share the host's network (the backend runs them unisolated)"
    if machine.has_egress:
        if options.deny_egress:
            raise invalid(f"{NETWORK}.deny_egress", f"cannot be honoured: {shared}")
        if options.dns_egress == pb.DNS_EGRESS_MODE_DENY:
            raise invalid(f"{NETWORK}.dns_egress", f"DNS cannot be denied: {shared}")
    else:
        for index, rule in enumerate(options.egress):
            if rule.WhichOneof("destination") == "https_hostname":  # the SDK's dns_name
                raise invalid(f"{NETWORK}.egress[{index}].dns_name",
                              f"no DNS-name egress can be granted: {none}")
        if options.egress:
            raise invalid(f"{NETWORK}.egress", f"no egress can be granted: {none}")
        if options.dns_egress == pb.DNS_EGRESS_MODE_ALLOW:
            raise invalid(f"{NETWORK}.dns_egress", f"DNS cannot be allowed: {none}")
    if machine.has_ingress:
        if options.deny_ingress:
            raise invalid(f"{NETWORK}.deny_ingress", f"cannot be honoured: {shared}")
    elif options.ingress:
        raise invalid(f"{NETWORK}.ingress", f"no ingress can be granted: {none}")


def _check_ports(ports: list[pb.PortRange], where: str) -> None:
    for index, port in enumerate(ports):
        at = f"{where}.ports[{index}]"
        if not 1 <= port.port <= 65535:
            raise invalid(f"{at}.port", f"{port.port} is not a port number (1-65535)")
        if port.end_port and not port.port <= port.end_port <= 65535:
            raise invalid(f"{at}.end_port", f"{port.end_port} is not a port from {port.port} "
                                             "to 65535")
        if port.protocol and port.protocol.upper() not in ("TCP", "UDP", "SCTP"):
            raise invalid(f"{at}.protocol", "must be TCP, UDP or SCTP")


def _check_cidr(block: pb.CidrBlock, where: str) -> None:
    for name, value in ((f"{where}.cidr", block.cidr),
                        *((f"{where}.except[{i}]", v)
                          for i, v in enumerate(getattr(block, "except")))):
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise invalid(name, "is not a CIDR block like 10.0.0.0/8") from None


def _check_egress_rule(rule: pb.EgressRule, where: str) -> None:
    destination = rule.WhichOneof("destination")
    if destination is None or (destination == "any" and not rule.any):
        raise invalid(where, "names no destination (cidr, https_hostname, tenant, any or "
                             "selector)")
    if destination == "cidr":
        _check_cidr(rule.cidr, f"{where}.cidr")
    if destination == "https_hostname" and not rule.https_hostname:
        raise invalid(f"{where}.https_hostname", "must not be empty")
    if destination == "tenant" and rule.tenant not in pb.TenantScope.values():
        raise invalid(f"{where}.tenant", f"{rule.tenant} is not a TenantScope")
    _check_ports(list(rule.ports), where)


def _check_ingress_rule(rule: pb.IngressRule, where: str) -> None:
    source = rule.WhichOneof("source")
    if source is None or (source == "any" and not rule.any):
        raise invalid(where, "names no source (cidr, tenant or any)")
    if source == "cidr":
        _check_cidr(rule.cidr, f"{where}.cidr")
    if source == "tenant" and rule.tenant not in pb.TenantScope.values():
        raise invalid(f"{where}.tenant", f"{rule.tenant} is not a TenantScope")
    _check_ports(list(rule.ports), where)


def _services(spec: pb.SandboxSpec) -> tuple[list[dict[str, Any]], str]:
    """The services to publish (engine entries) and the one ingress mode they share."""
    entries: list[dict[str, Any]] = []
    modes: set[str] = set()
    for index, service in enumerate(spec.services):
        where = f"{SPEC}.services[{index}]"
        if not 1 <= service.port <= 65535:
            raise invalid(f"{where}.port", f"{service.port} is not a port number (1-65535)")
        if any(entry["port"] == service.port for entry in entries):
            raise invalid(f"{where}.port", f"port {service.port} is published twice")
        if service.protocol not in (pb.SERVICE_PROTOCOL_UNSPECIFIED, pb.SERVICE_PROTOCOL_TCP):
            raise not_offered(f"{where}.protocol", "only TCP services are implemented")
        if service.visibility not in convert.MODE_OF_VISIBILITY:
            raise not_offered(f"{where}.visibility",
                              f"{pb.Visibility.Name(service.visibility)} is not implemented; "
                              "PUBLIC and PRIVATE are")
        kind = service.endpoint.kind
        if kind == pb.ENDPOINT_KIND_TLS_PASSTHROUGH:
            raise not_offered(f"{where}.endpoint.kind", "TLS passthrough endpoints are not "
                              "supported", "CWSANDBOX_TLS_PASSTHROUGH_ENDPOINTS_NOT_SUPPORTED")
        if kind == pb.ENDPOINT_KIND_HTTPS and service.endpoint.auth == pb.ENDPOINT_AUTH_SHARE_TOKEN:
            raise not_offered(f"{where}.endpoint.auth", "share-token HTTPS endpoints are not "
                              "supported", "CWSANDBOX_HTTPS_SHARE_TOKEN_NOT_SUPPORTED")
        if service.HasField("endpoint"):
            raise not_offered(f"{where}.endpoint", "HTTPS endpoints are not implemented here "
                              "(no TLS is terminated): leave endpoint unset for a plain address")
        modes.add(convert.MODE_OF_VISIBILITY[service.visibility])
        entries.append({"port": service.port, "name": service.name, "protocol": "TCP"})
    if len(modes) > 1:
        raise not_offered(f"{SPEC}.services", "public and private services on one sandbox are "
                                              "not implemented")
    return entries, (modes.pop() if modes else "")


def _working_dir(container: pb.Container) -> str:
    path = container.working_dir
    if path and (not path.startswith("/") or "\0" in path or len(path) > 4096):
        raise invalid(f"{CONTAINER}.working_dir", "must be an absolute path")
    return os.path.normpath(path) if path else ""


def _check_container(container: pb.Container, machine: Machine) -> None:
    _refuse_asked(container, CONTAINER, _CONTAINER_UNOFFERED)
    _check_security(container.security_context, machine)


def _check_security(context: pb.SecurityContext, machine: Machine) -> None:
    for index, name in enumerate(context.capabilities_drop):
        if not _CAPABILITY.fullmatch(name):
            raise invalid(f"{SECURITY}.capabilities_drop[{index}]",
                          "is not a capability name such as NET_RAW or ALL")
    _refuse_asked(context, SECURITY, _SECURITY_UNOFFERED)
    unisolated = "the backend runs sandboxes unisolated on this machine"
    for name in ("run_as_user", "run_as_group"):
        if context.HasField(name):
            value = getattr(context, name)
            if not machine.isolated:
                raise invalid(f"{SECURITY}.{name}", f"cannot be chosen: {unisolated}, as its "
                                                    "own user")
            if value != 0:
                raise invalid(f"{SECURITY}.{name}", f"{value} cannot be given: a sandbox runs "
                                                    "as 0 in its own user namespace")
    if not machine.isolated:
        # Without the namespace nothing of what follows is enforced; an explicit ask for it
        # is refused rather than dropped.
        if context.read_only_root_filesystem:
            raise invalid(f"{SECURITY}.read_only_root_filesystem",
                          f"cannot be honoured: {unisolated}")
        if context.HasField("allow_privilege_escalation"):
            raise invalid(f"{SECURITY}.allow_privilege_escalation",
                          f"cannot be enforced: {unisolated}")
        if context.capabilities_drop and os.geteuid() == 0:
            raise invalid(f"{SECURITY}.capabilities_drop",
                          f"cannot be enforced: {unisolated}, as root")


def _scratch_volume(spec: pb.SandboxSpec, container: pb.Container
                    ) -> tuple[str, str, str, str]:
    """(volume name, mount path, size, snapshot to restore) of the one scratch volume."""
    if len(spec.volumes) > 1:
        raise invalid(f"{SPEC}.volumes",
                      "the local backend gives a sandbox at most one scratch volume")
    volume = spec.volumes[0] if spec.volumes else None
    mount_path, size, restore = "", "", ""
    if volume is not None:
        where = f"{SPEC}.volumes[0]"
        if not volume.name:
            raise invalid(f"{where}.name", "is required")
        if volume.WhichOneof("source") == "volume_id":
            raise invalid(f"{where}.volume_id",
                          "mounting a registered volume is not offered by the local backend; "
                          "use a scratch volume")
        medium = volume.scratch.medium
        if medium not in pb.StorageMedium.values():
            raise invalid(f"{where}.scratch.medium", f"{medium} is not a StorageMedium")
        if medium == pb.STORAGE_MEDIUM_MEMORY:
            raise invalid(f"{where}.scratch.medium", "scratch volumes here are directories on "
                                                     "disk (STORAGE_MEDIUM_DISK)")
        size = volume.scratch.size
        restore = volume.scratch.restore_from_snapshot_id
    for index, mount in enumerate(container.volume_mounts):
        where = f"{CONTAINER}.volume_mounts[{index}]"
        if volume is None or mount.volume != volume.name:
            raise invalid(f"{where}.volume", f"names no volume of the sandbox: {mount.volume!r}")
        if mount_path:
            raise invalid(where, "the scratch volume is mounted once")
        if not mount.mount_path:
            raise invalid(f"{where}.mount_path", "is required")
        if mount.read_only:
            raise invalid(f"{where}.read_only", "the scratch volume is mounted writable only")
        if mount.sub_path:
            raise invalid(f"{where}.sub_path", "the scratch volume is mounted whole (no "
                                               "sub_path)")
        mount_path = mount.mount_path
    if volume is not None and not mount_path:
        raise invalid(f"{CONTAINER}.volume_mounts",
                      f"the scratch volume {volume.name!r} is not mounted")
    return (volume.name if volume is not None else ""), mount_path, size, restore


def _annotations(spec: pb.SandboxSpec) -> dict[str, str]:
    annotations = dict(spec.annotations)
    for index, key in enumerate(sorted(annotations)):
        prefix, _, name = key.rpartition("/")
        if (not _ANNOTATION_NAME.fullmatch(name)
                or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)))
                or ("/" in key and not prefix)):
            raise invalid(f"{SPEC}.annotations",
                          f"key #{index + 1} is not a Kubernetes annotation key (an optional "
                          "DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.')")
    return annotations


def _resources(container: pb.Container) -> tuple[ResourceAsk, ResourceAsk]:
    """Requests and limits; the older `resources` field stands for requests when
    `resource_requirements` asks nothing."""
    requirements = container.resource_requirements
    requests = _resource_ask(requirements.requests,
                             f"{CONTAINER}.resource_requirements.requests")
    limits = _resource_ask(requirements.limits, f"{CONTAINER}.resource_requirements.limits")
    if requests.empty and limits.empty:
        requests = _resource_ask(container.resources, f"{CONTAINER}.resources")
    return requests, limits


def _resource_ask(message: pb.Resources, where: str) -> ResourceAsk:
    if message.gpu.ByteSize():
        raise invalid(f"{where}.gpu", "sandboxes here are given no GPU devices")
    ask = ResourceAsk(cpu=message.cpu, memory=message.memory)
    ask.amounts(where)  # INVALID_ARGUMENT naming `where`.cpu / .memory for a bad quantity
    return ask
