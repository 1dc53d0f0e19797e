#!/usr/bin/env python
import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator_web.settings")
    if "APP_ENV" not in os.environ and not os.environ.get("SECRET_KEY"):
        # a local instance made by `make run` (its data folder holds the generated key): the README's commands
        # work on it as written; production always names its SECRET_KEY (and APP_ENV) in the environment
        data = Path(os.environ.get("DATA_DIR") or Path(__file__).resolve().parent / "data")
        if (data / "secret_key").is_file():
            os.environ["APP_ENV"] = "development"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
