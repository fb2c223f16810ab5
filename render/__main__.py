"""`python -m render` is the `meshrender` command."""

from render.cli import main

if __name__ == "__main__":
    main()
