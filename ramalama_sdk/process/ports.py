"""Who holds a TCP port: is it free, and is it held by our own server?

A health answer on ``http://host:port`` proves that some server listens
there, not that it is the one this process started. Before a key is sent,
the listening socket is looked up among the server's own processes.
"""

from __future__ import annotations

import errno
import socket

import psutil


def port_in_use(host: str, port: int) -> bool:
    """Whether another socket already holds ``port`` on ``host``.

    A quick bind, with SO_REUSEADDR as llama-server binds: on Linux it then
    fails exactly when a listening socket (on this address or the wildcard
    one) holds the port, and not for the connections of a server stopped a
    moment ago (TIME_WAIT).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def listens_on(root_pid: int, port: int) -> bool:
    """Whether ``root_pid`` or one of its descendants listens on ``port``."""
    try:
        root = psutil.Process(root_pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    for proc in procs:
        try:
            sockets = proc.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:  # our own children: not expected
            return True
        for conn in sockets:
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return True
    return False
