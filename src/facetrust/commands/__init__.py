"""CLI sub-commands; each module has ``register(subparsers)`` and imports only the standard library
at top level (heavy imports go inside the function that runs the command)."""
