"""`factory acl`: Mosquitto users, password hashes and ACL from the plant model."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.errors import ConfigError
from factory_cli.options import add_command, add_plant, load_plant_or_none
from factory_cli.settings import Settings

NAME = "acl"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="Mosquitto users, password hashes and ACL from the plant model",
        description=(
            "Write a Mosquitto ACL in which each edge gateway (the plant model's [[gateways]], "
            "or one per line) may publish only below its lines and subscribe to nothing, and "
            "the ingest user may read everything; a password file with PBKDF2-SHA512 hashes; "
            "and credentials.toml (mode 0600) with the clear passwords. Existing passwords "
            "in credentials.toml are kept. See docs/security.md."
        ),
    )
    add_plant(p)
    p.add_argument("--out", metavar="DIR", default="deploy/mosquitto/generated",
                   help="where to write acl, passwords, credentials.toml "
                   "(default deploy/mosquitto/generated)")  # fmt: skip
    p.add_argument("--ingest-user", default="factory-ingest", help="default factory-ingest")
    p.add_argument(
        "--group",
        metavar="NAME",
        help="give acl and passwords (mode 0640) to this group, the one the broker runs as "
        "(default: mosquitto, Debian's, when it exists and may be given)",
    )
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    from factory_cli.acl import broker_group, generate

    plant = load_plant_or_none(args.plant or settings.plant)
    if plant is None:
        raise ConfigError("factory acl needs the plant model: --plant FILE or FACTORY_PLANT")
    try:
        group = broker_group(args.group)
    except KeyError:
        raise ConfigError(f"--group {args.group}: no such group") from None
    try:
        out = generate(plant, Path(args.out), root=settings.topic_root,
                       ingest_user=args.ingest_user, group=group)  # fmt: skip
    except PermissionError as exc:
        raise ConfigError(
            f"cannot give the files in {args.out} to group {args.group}: {exc} "
            "(run as root, or as a member of that group)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot write to {args.out}: {exc}") from None
    print(f"{len(out.users)} users ({len(out.new_users)} new) for plant {plant.name!r}:")
    print(f"  ACL            {out.acl}        -> mosquitto: acl_file")
    print(f"  password file  {out.passwords}  -> mosquitto: password_file")
    if group is None:
        print("  (mode 0640, your group: Mosquitto reads them only if it runs as you; as root, "
              "factory acl gives them to Mosquitto's group, or use --group NAME)")  # fmt: skip
    else:
        print(f"  (mode 0640, group {args.group or 'mosquitto'}: the broker's user reads them)")
    print(f"  credentials    {out.credentials} (mode 0600: the clear passwords; keep secret)")
    print("Reload Mosquitto to apply (kill -HUP, or systemctl reload mosquitto).")
    return 0
