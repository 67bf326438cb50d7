"""Redis as a local daemon: Debian's redis-server on loopback, no persistence."""

from __future__ import annotations

import subprocess
import time

from services._process import (
    port_is_open,
    require_program,
    say,
    tail,
    wait_until,
)
from services.exceptions import PortInUseError, ServiceError, ServiceStartError
from services.probes import redis_answers
from services.state import LOCALHOST, ServicePaths, ServiceStatus
from streams.settings import Settings

NAME = "redis"
# Redis is up in milliseconds; seconds mean it is failing (bad dir, port race).
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
_REMEDY = "Install it with `make install-system` (apt-get install -y redis-server)."


def url(settings: Settings) -> str:
    return f"redis://{LOCALHOST}:{settings.redis_port}/0"


def render_config(settings: Settings, paths: ServicePaths) -> str:
    """redis.conf of a throwaway cache: loopback only, daemonized, nothing saved to disk."""
    return "\n".join(
        [
            "# Written by services/redis.py on every start.",
            f"port {settings.redis_port}",
            f"bind {LOCALHOST}",
            "daemonize yes",
            f"dir {paths.home}",
            f"logfile {paths.log}",
            f"pidfile {paths.pid_file}",
            # The cache is rebuilt from tool calls; snapshots would only cost disk and time.
            'save ""',
            "appendonly no",
            "",
        ]
    )


def status(settings: Settings) -> ServiceStatus:
    paths = ServicePaths.of(settings, NAME)
    return ServiceStatus(
        name=NAME,
        address=f"{LOCALHOST}:{settings.redis_port}",
        running=redis_answers(url(settings)),
        pid=paths.pid(),
        log=paths.log,
    )


def start(settings: Settings) -> ServiceStatus:
    """Start redis-server unless a Redis already answers PING on the port."""
    if redis_answers(url(settings)):
        say(f"Redis already answers on {LOCALHOST}:{settings.redis_port}; not starting another")
        return status(settings)
    if port_is_open(LOCALHOST, settings.redis_port):
        raise PortInUseError("Redis", settings.redis_port, "TOOLWISE_REDIS_PORT")
    server = require_program("redis-server", _REMEDY)
    paths = ServicePaths.of(settings, NAME)
    paths.make_dirs()
    config = paths.home / "redis.conf"
    config.write_text(render_config(settings, paths))
    started = time.monotonic()
    # daemonize: the launcher exits once the server forked, so run() returns at once.
    launched = subprocess.run(
        [server, str(config)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if launched.returncode != 0:
        raise ServiceError(f"redis-server refused {config}:\n{launched.stdout}{launched.stderr}")
    if not wait_until(lambda: redis_answers(url(settings)), READY_TIMEOUT_S):
        reason = f"no PONG on port {settings.redis_port} in {READY_TIMEOUT_S:.0f} s"
        raise ServiceStartError("Redis", f"{reason}; log tail:\n{tail(paths.log)}\n", paths.log)
    pid = paths.pid()
    say(
        f"Redis is ready on {LOCALHOST}:{settings.redis_port} (pid {pid}) "
        f"after {time.monotonic() - started:.1f} s"
    )
    return ServiceStatus(
        name=NAME,
        address=f"{LOCALHOST}:{settings.redis_port}",
        running=True,
        pid=pid,
        log=paths.log,
        started_now=True,
    )


def stop(settings: Settings) -> bool:
    """Stop the Redis these scripts started; True when one was running."""
    return ServicePaths.of(settings, NAME).stop("Redis", STOP_TIMEOUT_S)
