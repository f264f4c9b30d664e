"""The TCP sockets a process holds, read from /proc: how the real-system tier proves that every component it starts
stays on 127.0.0.0/8 (gate 1's servers, gate 2's node)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

TCP_LISTEN = "0A"  # the state column of /proc/net/tcp{,6}
_IPV4_MAPPED_LOOPBACK = "0000000000000000FFFF00000100007F"


class TcpSocket(NamedTuple):
    state: str
    """Kernel state in hex (`0A` = LISTEN)."""
    local: str
    """Local `host:port` (IPv6 other than the two well-known forms shown in hex)."""
    remote: str
    """Remote `host:port`."""


def tcp_sockets(pid: int) -> list[TcpSocket]:
    """Every TCP socket the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    sockets = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                sockets.append(TcpSocket(fields[3], _decode_address(fields[1]), _decode_address(fields[2])))
    return sockets


def tcp_listeners(pid: int) -> list[str]:
    """`host:port` of every listening TCP socket the process holds."""
    return [socket.local for socket in tcp_sockets(pid) if socket.state == TCP_LISTEN]


def _decode_address(address: str) -> str:
    host_hex, port_hex = address.split(":")
    return f"{_decode_host(host_hex)}:{int(port_hex, 16)}"


def _decode_host(host_hex: str) -> str:
    if len(host_hex) == 8:  # IPv4, little-endian
        return ".".join(str(int(host_hex[i : i + 2], 16)) for i in (6, 4, 2, 0))
    if host_hex == "0" * 32:
        return "[::]"
    if host_hex == _IPV4_MAPPED_LOOPBACK:
        return "127.0.0.1"
    return f"[{host_hex}]"
