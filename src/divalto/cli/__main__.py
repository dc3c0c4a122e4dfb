"""``python -m divalto.cli`` runs the ``divalto`` command."""

from divalto.cli import main

main()
