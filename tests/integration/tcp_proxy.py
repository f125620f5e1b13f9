"""A loopback TCP proxy that tests can cut and stall, to break a replication link.

TcpProxy(target_port) listens on a free 127.0.0.1 port (or the given one) and
forwards every connection to 127.0.0.1:target_port. Three modes:

- forward (the start): bytes flow both ways;
- cut(): every open connection is reset (RST to both ends) and new ones are
  accepted and reset at once, so the dialer sees the peer go away and retry;
- stall(): connections stay open but nothing is forwarded any more, so the
  kernel buffers fill and the senders block, as on a frozen network path
  (new connections are accepted and stall too);
- restore(): forward again; a stalled connection resumes where it stopped.

Two more tools, for the encrypted link's tests: record=True keeps every byte
forwarded (recorded(): what the dialers sent and what they received), and
tamper(count) flips one bit in each of the next `count` chunks forwarded in
either direction (count -1: every chunk), as a man in the middle would.

One thread runs a selector loop over all sockets (no per-connection threads,
so closing a socket never races a blocked read). Mode changes are handed to
that thread and take effect before the call returns. Everything is bounded:
commands wait at most COMMAND_TIMEOUT seconds.
"""

import collections
import selectors
import socket
import struct
import threading

COMMAND_TIMEOUT = 5.0
# Bytes read from one side and not yet written to the other before the proxy
# stops reading that side (back-pressure, like a socket buffer).
MAX_PENDING = 1 << 20
RECV_SIZE = 1 << 18

FORWARD, CUT, STALL = "forward", "cut", "stall"


def _reset(sock):
    """Closes `sock` with an RST (SO_LINGER 0) instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Side:
    """One socket of a proxied connection and the bytes waiting to go out of it."""

    def __init__(self, sock):
        self.sock = sock
        self.out = bytearray()
        self.eof = False  # the socket's peer closed its sending direction


class _Connection:
    def __init__(self, client, upstream):
        self.sides = (_Side(client), _Side(upstream))


class TcpProxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:target_port; see the module docstring.

    Usage: `with TcpProxy(target) as proxy: ... proxy.port ... proxy.cut()`.
    Thread safety: cut/stall/restore/close may be called from any thread.
    """

    def __init__(self, target_port, port=0, record=False):
        self.target_port = target_port
        self.record = record
        self._recorded = [bytearray(), bytearray()]  # from the dialers, from the target
        self._tamper = 0  # chunks left to alter; -1: all
        self.tampered = 0  # chunks altered so far
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self.mode = FORWARD
        self.accepted = 0  # connections accepted in any mode
        self._connections = []
        self._commands = collections.deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="tcp-proxy-%d" % self.port,
                                        daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def cut(self):
        """Resets every connection and refuses (accept + RST) new ones."""
        self._command(CUT)

    def stall(self):
        """Stops forwarding on every connection, keeping them open."""
        self._command(STALL)

    def restore(self):
        """Forwards again."""
        self._command(FORWARD)

    def recorded(self):
        """(bytes the dialers sent, bytes the target sent back), all
        connections concatenated (record=True only)."""
        self._command("noop")  # the proxy thread is between two rounds
        return bytes(self._recorded[0]), bytes(self._recorded[1])

    def tamper(self, count):
        """Flips one bit in each of the next `count` chunks forwarded (-1:
        every chunk, until tamper(0))."""
        self._command(("tamper", count))

    def connection_count(self):
        """Connections currently open through the proxy."""
        return len(self._connections)

    def close(self):
        """Resets all connections, stops the thread and the listener."""
        if self._thread.is_alive():
            self._command("close")
            self._thread.join(COMMAND_TIMEOUT)
        self._wake_w.close()

    def _command(self, mode):
        done = threading.Event()
        self._commands.append((mode, done))
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if not done.wait(COMMAND_TIMEOUT):
            raise RuntimeError("tcp proxy on %d did not take command %s" % (self.port, mode))

    # Everything below runs on the proxy thread only.

    def _loop(self):
        selector = selectors.DefaultSelector()
        try:
            while not self._stop:
                self._run_commands()
                if self._stop:
                    break
                self._register(selector)
                for key, events in selector.select(0.5):
                    if key.fileobj is self._wake_r:
                        try:
                            self._wake_r.recv(4096)
                        except BlockingIOError:
                            pass
                    elif key.fileobj is self._listener:
                        self._accept()
                    else:
                        connection, index = key.data
                        self._service(connection, index, events)
        finally:
            for connection in self._connections:
                self._drop(connection)
            self._connections = []
            selector.close()
            self._listener.close()
            self._wake_r.close()

    def _run_commands(self):
        while self._commands:
            mode, done = self._commands.popleft()
            if mode == "close":
                self._stop = True
            elif mode == "noop":
                pass
            elif isinstance(mode, tuple):
                self._tamper = mode[1]
            else:
                self.mode = mode
                if mode == CUT:
                    for connection in self._connections:
                        self._drop(connection)
                    self._connections = []
            done.set()

    def _register(self, selector):
        """Re-registers every socket with the events the mode allows."""
        for key in list(selector.get_map().values()):
            selector.unregister(key.fileobj)
        selector.register(self._wake_r, selectors.EVENT_READ)
        selector.register(self._listener, selectors.EVENT_READ)
        if self.mode != FORWARD:
            return  # stalled: no socket is read or written
        for connection in self._connections:
            for index, side in enumerate(connection.sides):
                other = connection.sides[1 - index]
                events = 0
                if not side.eof and len(other.out) < MAX_PENDING:
                    events |= selectors.EVENT_READ
                if side.out:
                    events |= selectors.EVENT_WRITE
                if events:
                    selector.register(side.sock, events, (connection, index))

    def _accept(self):
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self.accepted += 1
        if self.mode == CUT:
            _reset(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=1.0)
        except OSError:
            _reset(client)  # the target is down: the dialer sees a reset, as if refused
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connections.append(_Connection(client, upstream))

    def _service(self, connection, index, events):
        if connection not in self._connections:
            return  # dropped earlier in this round
        side = connection.sides[index]
        other = connection.sides[1 - index]
        try:
            if events & selectors.EVENT_READ:
                data = side.sock.recv(RECV_SIZE)
                if data:
                    if self._tamper != 0:
                        data = bytearray(data)
                        data[len(data) // 2] ^= 0x01
                        self.tampered += 1
                        if self._tamper > 0:
                            self._tamper -= 1
                    if self.record:
                        self._recorded[index].extend(data)
                    other.out += data
                else:
                    side.eof = True
            if events & selectors.EVENT_WRITE and side.out:
                sent = side.sock.send(side.out)
                del side.out[:sent]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(connection)
            self._connections.remove(connection)
            return
        # One side closed and everything it sent is delivered: close both.
        if any(s.eof for s in connection.sides) and not any(s.out for s in connection.sides):
            self._drop(connection, reset=False)
            self._connections.remove(connection)

    @staticmethod
    def _drop(connection, reset=True):
        """Closes both sockets: with RST (a cut) or with FIN (a clean close)."""
        for side in connection.sides:
            if reset:
                _reset(side.sock)
            else:
                side.sock.close()
