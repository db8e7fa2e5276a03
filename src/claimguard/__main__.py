"""``python -m claimguard`` runs the CLI."""

from claimguard.cli import main

main()
