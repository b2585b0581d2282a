"""The command line: thin modules that parse arguments, call the API and print text or ``--json``."""
