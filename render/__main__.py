"""`python -m meshrender` is the `meshrender` command."""

from meshrender.cli import run

if __name__ == "__main__":
    run()
