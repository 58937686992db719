"""Listen addresses: parsing ``host:port`` and binding sockets several processes can share."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable


def split_host_port(listen: str) -> tuple[str, int]:
    """The host and port of ``host:port`` or ``[v6]:port``; raises ``ValueError`` naming it."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"listen address {listen!r} is not host:port")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"listen address {listen!r} has a port above 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"listen address {listen!r}: write an IPv6 host as [host]:port")
    return host, port


def bind_shared(listen: str, backlog: int = 128) -> socket.socket:
    """A listening TCP socket on ``listen`` with SO_REUSEADDR and SO_REUSEPORT.

    Every process of the same user that binds the same address this way shares the port,
    and the kernel spreads new connections over them. Port 0 picks a free port; read it
    back with ``getsockname()``.
    """
    host, port = split_host_port(listen)
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def with_port(listen: str, pick: Callable[[str], int]) -> str:
    """``listen`` unchanged, or with its port 0 replaced by ``pick(host)``."""
    host, port = split_host_port(listen)
    if port != 0:
        return listen
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{pick(host)}"


def is_loopback(host: str) -> bool:
    """True when ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
