"""``python -m seeds`` runs the ``seeds`` command."""

from seeds.cli import main

main()
