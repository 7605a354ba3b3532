"""Hot ORM reads compiled once per thread and run as prepared statements.

Building and compiling a queryset costs Django more CPU than PostgreSQL spends answering it once there
are a few select_related joins: userinfo's 6-table read took 4–6 ms of Python per request, PostgreSQL
well under 1 ms. A read whose shape never changes is compiled once with placeholder values; each call
binds its own values server side (prepared_cursor: psycopg prepares the statement after a few runs, so
PostgreSQL skips parsing and planning too) and gets the model instances the queryset would have built,
field converters (encrypted fields) and select_related objects included, through Django's own
ModelIterable steps.

Only exact lookups on the placeholders are supported (their values reach the SQL parameters unchanged,
which ``_compile`` checks). Compiled per thread: a compiler belongs to its thread's connection.
"""

import threading

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.query import get_related_populators


class CompiledQuery:
    """``build(**placeholders)`` → a queryset of model instances; ``all(**values)`` runs it."""

    def __init__(self, build, *names: str):
        self._build = build
        self._names = names
        self._local = threading.local()

    def _compile(self, connection):
        markers = {name: f"compiled-placeholder:{name}" for name in self._names}
        queryset = self._build(**markers)
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        by_marker = {marker: name for name, marker in markers.items()}
        slots = [(by_marker.get(param) if isinstance(param, str) else None, param) for param in params]
        if {name for name, _param in slots if name} != set(self._names):
            raise ValueError(f"a placeholder did not reach the SQL parameters unchanged: {sql}")
        klass_info, select = compiler.klass_info, compiler.select
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        init_list = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, connection.alias)
        converters = compiler.get_converters([column[0] for column in select[: compiler.col_count]])
        compiled = (connection, compiler, sql, slots, converters, klass_info["model"], start, end, init_list,
                    populators)  # fmt: skip
        self._local.compiled = compiled
        return compiled

    def all(self, **values) -> list:
        connection = connections[DEFAULT_DB_ALIAS]
        compiled = getattr(self._local, "compiled", None)
        if compiled is None or compiled[0] is not connection:
            compiled = self._compile(connection)
        _connection, compiler, sql, slots, converters, model, start, end, init_list, populators = compiled
        params = [values[name] if name else param for name, param in slots]
        with connection.prepared_cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if converters:
            rows = compiler.apply_converters(rows, converters)
        objects = []
        for row in rows:
            instance = model.from_db(connection.alias, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, instance)
            objects.append(instance)
        return objects

    def first(self, **values):
        found = self.all(**values)
        return found[0] if found else None
