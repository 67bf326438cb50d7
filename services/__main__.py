"""`python -m services start|stop|status [--broker kafka|tansu|auto]`."""

from __future__ import annotations

import argparse
import sys
from typing import cast

from services import BrokerChoice, ServiceError, start_all, status, stop_all
from streams.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start the broker and Redis (idempotent)")
    start.add_argument("--broker", choices=["kafka", "tansu", "auto"], default="auto")
    commands.add_parser("stop", help="stop the services these scripts started")
    show = commands.add_parser("status", help="show the services; exit 1 unless all answer")
    show.add_argument("-q", "--quiet", action="store_true", help="only the exit status")
    args = parser.parse_args(argv)

    settings = get_settings()
    try:
        if args.command == "start":
            for service in start_all(settings, cast(BrokerChoice, args.broker)):
                print(service.describe())
            return 0
        if args.command == "stop":
            stopped = stop_all(settings)
            print(f"stopped: {', '.join(stopped)}" if stopped else "nothing to stop")
            return 0
        services = status(settings).values()
        if not args.quiet:
            for service in services:
                print(service.describe())
        return 0 if all(service.running for service in services) else 1
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
