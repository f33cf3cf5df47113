"""What a container tries to send out, seen from inside its network namespace.

A raw ``AF_PACKET`` socket opened in the namespace (root on the Docker host) sees every
packet its processes send, on ``lo`` and ``eth0``. Counted as outbound attempts: a DNS
question (to Docker's resolver at 127.0.0.11, or to any port 53), a TCP SYN or a UDP
datagram leaving by a non-loopback interface. Answers to the checker's own probes are
not attempts (a SYN-ACK carries ACK), nor is traffic between the container's own
processes on ``lo``.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field

from .probe import join_netns

__all__ = ["Sniffer"]

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
DOCKER_DNS = "127.0.0.11"


@dataclass
class Sniffer:
    attempts: list[str] = field(default_factory=list)
    error: str = ""
    capturing: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)

    def start_in(self, pid: int) -> None:
        """Capture on a thread of its own inside the network namespace of ``pid``."""
        threading.Thread(target=self._run, args=(pid,), daemon=True).start()
        self._ready.wait(5.0)

    def _run(self, pid: int) -> None:
        try:
            join_netns(pid)
        except OSError as exc:
            self.error = f"cannot join the container's network namespace ({exc.strerror or exc})"
            self._ready.set()
            return
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except OSError as exc:
            self.error = f"cannot capture packets ({exc.strerror or exc})"
            self._ready.set()
            return
        sock.settimeout(0.2)
        self.capturing = True
        self._ready.set()
        with sock:
            while not self._stop.is_set():
                try:
                    frame, address = sock.recvfrom(65535)
                except TimeoutError:
                    continue
                if address[2] == PACKET_OUTGOING:
                    seen = _attempt(frame, address[0])
                    if seen and seen not in self.attempts:
                        self.attempts.append(seen)

    def stop(self) -> None:
        self._stop.set()


def _attempt(frame: bytes, interface: str) -> str | None:
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":  # IPv4 only (Docker's default)
        return None
    ip = frame[14:]
    header = (ip[0] & 0x0F) * 4
    protocol = ip[9]
    destination = socket.inet_ntoa(ip[16:20])
    payload = ip[header:]
    if protocol not in (6, 17) or len(payload) < 8:
        return None
    port = struct.unpack("!H", payload[2:4])[0]
    if destination == DOCKER_DNS or port == 53:
        if protocol == 17:
            return f"DNS lookup of {_question(payload[8:])}"
        return f"DNS over TCP to {destination}" if payload[13] & 0x02 else None
    if interface == "lo":
        return None
    if protocol == 6:
        flags = payload[13]
        syn_only = flags & 0x12 == 0x02
        return f"TCP connection to {destination}:{port}" if syn_only else None
    return f"UDP datagram to {destination}:{port}"


def _question(message: bytes) -> str:
    labels, offset = [], 12
    while offset < len(message) and message[offset]:
        length = message[offset]
        labels.append(message[offset + 1 : offset + 1 + length].decode(errors="replace"))
        offset += length + 1
    return ".".join(labels) or "(unreadable name)"
