"""`python -m voicecli` runs the command line."""

from voicecli.cli import main

if __name__ == "__main__":  # not when a worker process (speech recognition) imports the main module
    main()
