"""The browser's API types are generated from the server's OpenAPI schema (openapi-typescript, checked in as
frontend/src/api-schema.d.ts): the two cannot drift apart unnoticed."""

import os
import subprocess

from django.core.management import call_command

from tests.stack import ROOT, frontend_tool

TYPES = ROOT / "frontend" / "src" / "api-schema.d.ts"


def test_the_frontends_api_types_are_generated_from_the_schema(tmp_path):
    frontend = frontend_tool("openapi-typescript")
    call_command("spectacular", file=str(tmp_path / "schema.yaml"), validate=True)
    done = subprocess.run(["npx", "openapi-typescript", str(tmp_path / "schema.yaml"), "--array-length", "-o",
                           str(tmp_path / "api-schema.d.ts")], cwd=frontend, capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "api-schema.d.ts").read_text() == TYPES.read_text(), (
        "frontend/src/api-schema.d.ts is not what the API's schema gives: run `make api-types` and commit it"
    )
