"""`python -m meshrender` is the `meshrender` command."""

from meshrender.cli import main

if __name__ == "__main__":
    main()
