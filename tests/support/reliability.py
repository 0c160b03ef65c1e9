"""`tracktion serve` as the reliability tests run it: with their bootstrap key, its output appended to
`<data dir>-server.log`, its memory readable."""

from __future__ import annotations

from pathlib import Path

from tests.support import serve_process

API_KEY = "tk_reliability-key-0123456789abcdef"


class ServeProcess(serve_process.ServeProcess):
    """`tracktion serve` with the reliability key, its output appended to `<data dir>-server.log`."""

    def __init__(
        self, data_dir: Path, database_url: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        log_path = data_dir.parent / f"{data_dir.name}-server.log"
        super().__init__(data_dir, database_url, env, api_key=API_KEY, log_path=log_path)

    def memory_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the server process in KiB: current and peak resident memory."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
        return values["VmRSS"], values["VmHWM"]
