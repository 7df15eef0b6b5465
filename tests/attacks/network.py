"""Category 4: the network. The harness listens on the host (TCP and UDP on every interface,
an abstract and a filesystem unix socket) and records every contact."""

from __future__ import annotations

from . import attack, one, probe_code, toy


@attack("net_host_loopback", "network", 0, fast=True,
        expect="the sandbox's loopback is private: no host service is reachable")
def net_host_loopback(ctx):
    """Connect to the harness's TCP server on 127.0.0.1, ::1 and every host address, send
    UDP to it, connect to its abstract and filesystem unix sockets."""
    addrs = ["127.0.0.1", "::1", *ctx.host_ips]
    body = probe_code(
        "import socket\n"
        f"port = {ctx.tcp_port}\n"
        f"for a in {addrs!r}:\n"
        "    def tcp(a=a):\n"
        "        fam = socket.AF_INET6 if ':' in a else socket.AF_INET\n"
        "        s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(3)\n"
        f"        s.connect((a, port)); s.sendall(b'TCP-FROM-SANDBOX {ctx.token}'); s.close()\n"
        "    _try('breach:net:tcp:' + a, tcp)\n"
        "    def udp(a=a):\n"
        "        fam = socket.AF_INET6 if ':' in a else socket.AF_INET\n"
        "        s = socket.socket(fam, socket.SOCK_DGRAM)\n"
        f"        s.sendto(b'UDP-FROM-SANDBOX {ctx.token}', (a, port))\n"
        "    _try('info:net:udp-sendto:' + a, udp)\n"
        "def abstract():\n"
        "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(3)\n"
        f"    s.connect('\\0{ctx.abstract_socket}'); s.sendall(b'ABSTRACT {ctx.token}')\n"
        "_try('breach:net:abstract-unix', abstract)\n"
        "def fsunix():\n"
        "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(3)\n"
        f"    s.connect({str(ctx.unix_socket)!r}); s.sendall(b'UNIX {ctx.token}')\n"
        "_try('breach:net:fs-unix', fsunix)\n"
        "_try('info:net:interfaces', lambda: socket.if_nameindex())\n")
    return one(ctx, "net_host_loopback", toy(ctx, before=body))


@attack("net_outside", "network", 0,
        expect="no route out: DNS, TCP and HTTP to the Internet all fail")
def net_outside(ctx):
    """TCP to public resolvers and web servers, DNS lookups, an HTTP GET, the host's
    gateway."""
    body = probe_code(
        "import socket, urllib.request\n"
        "for host, port in [('8.8.8.8', 53), ('1.1.1.1', 443), ('192.0.2.1', 80), ('10.0.0.1', 22)]:\n"
        "    def tcp(host=host, port=port):\n"
        "        s = socket.create_connection((host, port), timeout=3); s.close()\n"
        "    _try(f'breach:net:tcp:{host}:{port}', tcp)\n"
        "_try('breach:net:dns', lambda: socket.getaddrinfo('pypi.org', 443))\n"
        "_try('breach:net:http', lambda: urllib.request.urlopen('http://example.com', timeout=3).read(10))\n")
    return one(ctx, "net_outside", toy(ctx, before=body))


@attack("net_raw_and_listen", "network", 0,
        expect="no raw sockets (capabilities dropped); a listener inside is not reachable from "
               "the host")
def net_raw_and_listen(ctx):
    """Raw/packet sockets, a netlink route dump, and a TCP listener on every interface of the
    sandbox (the harness tries to connect to it while the job runs)."""
    port = ctx.tcp_port + 1
    body = probe_code(
        "import socket, threading, time\n"
        "_try('breach:net:raw-icmp', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))\n"
        "_try('breach:net:packet', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))\n"
        "_try('info:net:netlink', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))\n"
        "def listen():\n"
        "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"    s.bind(('0.0.0.0', {port})); s.listen(5); s.settimeout(3)\n"
        "    try:\n"
        f"        c, a = s.accept(); c.sendall({ctx.token!r}.encode()); return a\n"
        "    except socket.timeout:\n"
        "        raise ConnectionError('nobody connected in 3 s')\n"
        "_try('breach:net:accepted-from-host', listen)\n")
    return one(ctx, "net_raw_and_listen", toy(ctx, before=body))
