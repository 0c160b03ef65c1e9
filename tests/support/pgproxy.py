"""A loopback TCP proxy in front of PostgreSQL that a test can cut (the database "goes away") and restore."""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.parse


class PgProxy:
    def __init__(self, target_url: str) -> None:
        from psycopg.conninfo import conninfo_to_dict  # the `postgres` extra: the suite collects without it

        info = conninfo_to_dict(target_url)
        self.target = (info.get("host") or "127.0.0.1", int(info.get("port") or 5432))
        self.info = info
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def url(self) -> str:
        """A postgresql:// URL with the same user, database and options, through the proxy."""
        user = urllib.parse.quote(self.info.get("user") or "postgres")
        password = self.info.get("password")
        auth = f"{user}:{urllib.parse.quote(password)}" if password else user
        query = {
            k: v for k, v in self.info.items() if k not in {"host", "port", "user", "password", "dbname"}
        }
        q = ("?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)) if query else ""
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{self.info.get('dbname') or 'postgres'}{q}"

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and drop every open one, as if the server vanished."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                # cut() may have run while this connection was being set up: then it must not outlive it
                live = self._listener is listener
                if live:
                    self._sockets |= {client, upstream}
            if not live:
                client.close()
                upstream.close()
                continue
            for s in (client, upstream):  # no Nagle delay: forward each message as it comes
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
