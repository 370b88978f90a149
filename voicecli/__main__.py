"""`python -m voicecli` runs the command line."""

from voicecli.cli import main

main()
