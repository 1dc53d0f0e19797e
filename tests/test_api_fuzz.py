"""Schemathesis over every operation of the API's own OpenAPI schema, as anonymous, annotator and admin:
whatever it sends, the answer is never a server error, its status is one the schema declares and its body
matches the declaration; and sent again with text the database cannot store (a lone surrogate, a NUL) in its
body, query or path, the answer is still never a server error. Bounded: a few examples per operation,
derandomized (the same cases every run), about a minute and a half."""

import itertools
import json
from collections import Counter
from urllib.parse import quote, unquote

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

# every operation but the schema document itself (drf-spectacular's own view)
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True)).exclude(
    path="/api/schema/"
)
schema.app = get_wsgi_application()
EXAMPLES = 25


@pytest.fixture
def callers(users, settings_for_fuzz):
    """Request headers per role. Requests run inside the test's transaction: like Django's test client, the
    handler must not close the database connection after each one."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    out = {"anonymous": {}}
    for role, user in (("annotator", users["annotator"]), ("admin", users["admin"])):
        token, _ = Token.objects.get_or_create(user=user)
        out[role] = {"Authorization": f"Token {token.key}"}
    yield out
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def settings_for_fuzz(settings, tmp_path):
    """A project with people and tasks to aim at; files in a throw-away media folder."""
    import io

    from django.core.files.base import ContentFile
    from PIL import Image as PILImage

    from annotator_web.data.models import Image, Person, Project
    from annotator_web.work import services

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    project = Project.objects.create(name="fuzz")
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 48), (10, 20, 30)).save(buffer, format="JPEG")
    image = Image(project=project, width=64, height=48, sha256="f" * 64)
    image.file.save("f.jpg", ContentFile(buffer.getvalue()), save=True)
    for k in range(3):
        Person.objects.create(image=image, x=1 + k, y=1, w=20, h=30)
    services.create_tasks(project)
    return project


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_every_operation_answers_as_its_schema_says_and_never_with_a_server_error(case, callers):
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    for role, headers in callers.items():
        response = case.call(headers={**(case.headers or {}), **headers})
        assert response.status_code < 500, (
            f"{role}: {case.method} {case.formatted_path} -> {response.status_code}\n{case.as_curl_command()}\n"
            f"{response.text[:500]}"
        )
        case.validate_response(response, checks=checks)


# Text PostgreSQL cannot store. A lone surrogate is not a character: a JSON body carries it as the escape "\ud800",
# a query string or a urlencoded form as %ED%A0%80 and a multipart field as the bytes ED A0 80 (what UTF-8 would
# make of it, were it allowed); NUL goes as "\u0000", %00 and a zero byte.
SURROGATES = ("\ud800", "\udfff", "text\ud800", "\udfff text", "a\udfff\ud800b")
NULS = ("\x00", "text\x00", "\x00 text")
# Werkzeug (like any UTF-8 encoder) refuses to encode a surrogate, so a case is built with these stand-ins and
# its encoded request has them replaced by the surrogate's wire form.
STAND_INS = {chr(code): f"zzSURROGATE{code:x}zz" for code in (0xD800, 0xDFFF)}
WIRE_FORMS = {
    "json": {stand_in: json.dumps(surrogate).strip('"').encode() for surrogate, stand_in in STAND_INS.items()},
    "url": {stand_in: quote(surrogate, errors="surrogatepass").encode() for surrogate, stand_in in STAND_INS.items()},
    "bytes": {stand_in: surrogate.encode("utf-8", "surrogatepass") for surrogate, stand_in in STAND_INS.items()},
}


def _stand_in(text: str) -> str:
    for surrogate, stand_in in STAND_INS.items():
        text = text.replace(surrogate, stand_in)
    return text


def _on_the_wire(encoded: bytes, form: str) -> bytes:
    for stand_in, wire in WIRE_FORMS[form].items():
        encoded = encoded.replace(stand_in.encode(), wire)
    return encoded


def _is_field(value) -> bool:
    """Whether a query or form field with this value goes on the wire as text: scalars, and lists holding one (the
    test clients drop a field whose value is an object or an empty list)."""
    scalar = (str, int, float, bool, type(None))
    return isinstance(value, scalar) or (isinstance(value, list) and any(isinstance(v, scalar) for v in value))


def _walk_texts(value, text, fields: bool):
    """``value`` rebuilt with ``text(item, kind)`` for each of its strings ("value") and object keys ("key") that
    reach the server as text: all of them, at any depth, in a JSON body; in query and form ``fields``, the names of
    fields that are sent and their string values (nested objects go as Python or JSON text of themselves, if at all,
    so what is inside them never arrives as itself)."""

    def walk(item, live: bool):
        if isinstance(item, str):
            return text(item, "value") if live else item
        if isinstance(item, list):
            return [walk(inner, live) for inner in item]
        if isinstance(item, dict):
            return {text(key, "key") if live else key: walk(inner, live) for key, inner in item.items()}
        return item

    if not fields or not isinstance(value, dict):
        return walk(value, not fields or isinstance(value, str))  # (a form body that is text goes as it is)
    out = {}
    for key, item in value.items():
        sent = _is_field(item)
        if isinstance(item, list):
            item = [text(inner, "value") if sent and isinstance(inner, str) else inner for inner in item]
        elif isinstance(item, str) and sent:
            item = text(item, "value")
        out[text(key, "key") if sent else key] = item
    return out


def _places(value, fields: bool) -> list:
    """Where ``value`` can carry a poison: None (every string value), ("value", n) and ("key", n) for the n-th
    string or object key ``_walk_texts`` meets, "added" (a field added) when it is an object."""
    counts = Counter()

    def count(item: str, kind: str) -> str:
        counts[kind] += 1
        return item

    _walk_texts(value, count, fields)
    places = [None] if counts["value"] else []
    places += [("value", n) for n in range(counts["value"])] + [("key", n) for n in range(counts["key"])]
    return places + (["added"] if isinstance(value, dict) else [])


def _poisoned(value, make, fields: bool, only: tuple[str, int] | None):
    """``value`` with ``make(text)`` for the ``only`` place of ``_places``, or for every string value (the keys
    stay: the fields still arrive) when ``only`` is None."""
    numbers = {"value": itertools.count(), "key": itertools.count()}

    def text(item: str, kind: str) -> str:
        number = next(numbers[kind])
        return make(item) if only == (kind, number) or (only is None and kind == "value") else item

    return _walk_texts(value, text, fields)


def _as_text(fields: dict) -> dict:
    """Query and form fields as the text they are on the wire (numbers too can carry a NUL there)."""

    def text(value):
        return str(value) if type(value) in (int, float) else value

    return {key: [text(v) for v in value] if isinstance(value, list) else text(value) for key, value in fields.items()}


def _with_unstorable_text(case, draw, poisons: tuple[str, ...], targets: dict):
    """A copy of ``case``, maybe aimed at the fixture's objects (its path parameters, query parameters and top-level
    body fields named like one of ``targets`` set to it), with one of ``poisons`` (surrogates as their stand-ins),
    after the text or as the text, in the body (in every string, or in one string or object key at any depth, or a
    field added), or in the query (likewise), or in a path parameter."""
    from schemathesis.core import NotSet

    body, query, path = case.body, case.query or {}, case.path_parameters or {}
    if not draw(st.booleans(), "not aimed at the fixture's objects"):
        path = {key: quote(str(targets[key]), safe="") if key in targets else value for key, value in path.items()}
        query = {key: targets.get(key, value) for key, value in query.items()}
        if isinstance(body, dict):
            body = {key: targets.get(key, value) for key, value in body.items()}
    form = "json" not in (case.media_type or "")
    if isinstance(body, dict) and form:
        body = _as_text(body)
    query = _as_text(query)
    places = {
        "body": [] if isinstance(body, NotSet) else _places(body, fields=form),
        "query": _places(query, fields=True),
        "path": sorted(path),
    }
    # the body twice as often: most of what a request says, and most that is stored, is in it
    where = draw(st.sampled_from([name for name in ("body", "body", "query", "path") if places[name]]), "where")
    which = draw(st.sampled_from(places[where]), "which")
    poison = _stand_in(draw(st.sampled_from(poisons), "poison"))
    make = draw(st.sampled_from([lambda text: text + poison, lambda text: poison]), "after the text or as it")
    if where == "body":
        body = {**body, make("key"): make("value")} if which == "added" else _poisoned(body, make, form, which)
    elif where == "query":
        query = {**query, make("parameter"): make("value")} if which == "added" else _poisoned(query, make, True, which)
    else:
        # Werkzeug's test client decodes the path as UTF-8 with replacement: %ED%A0%80 arrives as U+FFFD, %00 as NUL
        value = make(unquote(path[which]))
        for surrogate, stand_in in STAND_INS.items():
            value = value.replace(stand_in, surrogate)
        path = {**path, which: quote(value, safe="", errors="surrogatepass")}
    out = case.derive(query=query)
    out.body, out.path_parameters = body, path
    return out


def _wire_request(case) -> dict:
    """What ``case.call`` sends for ``case``, its surrogate stand-ins in their wire form: the query string, and the
    body and its Content-Type when it has a body."""
    from schemathesis.core import NotSet
    from werkzeug.test import EnvironBuilder

    kwargs = case.as_transport_kwargs()
    kwargs.pop("base_url", None)
    builder = EnvironBuilder(**kwargs)
    try:
        environ = builder.get_environ()
        body = environ["wsgi.input"].read()
    finally:
        builder.close()
    out = {"params": _on_the_wire(environ["QUERY_STRING"].encode("latin-1"), "url").decode("ascii")}
    if not isinstance(case.body, NotSet):
        media_type = case.media_type or ""
        form = "json" if "json" in media_type else "url" if "urlencoded" in media_type else "bytes"
        out["data"] = _on_the_wire(body, form)
        # (none for a multipart body that is not an object: Werkzeug sends it as it is)
        out["headers"] = {"Content-Type": environ["CONTENT_TYPE"]} if environ.get("CONTENT_TYPE") else {}
    return out


@pytest.fixture
def targets(users, settings_for_fuzz):
    """Real objects to aim at, for the requests to get past "not found" to where text is used and stored: the
    project, and a task leased to the annotator (leased again for each case: a case may have put it down)."""
    from annotator_web.work import services
    from annotator_web.work.models import Task

    project = settings_for_fuzz

    def aim() -> dict:
        type(project).objects.filter(pk=project.pk).update(paused=False)
        project.refresh_from_db()
        task = services.next_task(users["annotator"], project, 1) or Task.objects.filter(project=project).first()
        return {"name": project.name, "project": project.name, "id": task.pk}

    return aim


@pytest.mark.django_db
@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
def test_text_the_database_cannot_store_gets_a_client_error_never_a_server_error(case, data, callers, targets):
    """Each case again, once with a lone surrogate and once with a NUL: in a string or object key of its body (at
    any depth) or in all of its body's strings, or a field added to it; likewise in its query; or in a path
    parameter. Refused (or harmless), never a 5xx."""
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    for poisons in (SURROGATES, NULS):
        poisoned = _with_unstorable_text(case, data.draw, poisons, targets())
        wire = _wire_request(poisoned)
        sent = poisoned.derive(query={})  # the query goes as the raw string in wire["params"]
        for role, headers in callers.items():
            response = sent.call(
                headers={**(sent.headers or {}), **headers, **wire.get("headers", {})},
                **{key: value for key, value in wire.items() if key != "headers"},
            )
            assert response.status_code < 500, (
                f"{role}: {case.method} {sent.formatted_path}?{wire['params']} -> {response.status_code}\n"
                f"body {wire.get('data')!r:.1000}\n{response.text[:500]}"
            )
            sent.validate_response(response, checks=checks)
