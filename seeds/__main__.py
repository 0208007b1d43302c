"""``python -m seeds`` runs the ``seeds`` command."""

from seeds.integrations.cli import main

main()
