"""The direct baseline: a bare WSGI app answering the organisations query with psycopg and json."""

import json
import os

import psycopg

_connection = None

QUERY = """
    SELECT public_id::text, name, siret, siren, kind, commune_code, departement_code, region_code
    FROM platform_core_organisation ORDER BY name, siret LIMIT 50
"""
FIELDS = ["id", "name", "siret", "siren", "kind", "commune_code", "departement_code", "region_code"]


def application(environ, start_response):
    global _connection
    if _connection is None:
        _connection = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    rows = _connection.execute(QUERY).fetchall()
    count = _connection.execute("SELECT count(*) FROM platform_core_organisation").fetchone()[0]
    body = json.dumps({"count": count, "results": [dict(zip(FIELDS, row, strict=True)) for row in rows]})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]
