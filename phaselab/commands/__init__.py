"""One module per `phaselab` subcommand."""
