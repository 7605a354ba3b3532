"""The platform's PostgreSQL backend: django_prometheus's (query metrics) plus the journal's commit hooks.

``protection.journal.record()`` does not write an entry recorded inside an atomic block at once: it
parks it in this connection's ``journal_buffer`` and writes the whole buffer in one statement as late
as possible, while keeping the buffer invisible (see protection/journal.py). The journal flushes it
itself before any other statement sent through the connection (an execute wrapper) and discards it on
ROLLBACK TO SAVEPOINT; what only the backend sees is the end of the transaction:

- ``_commit`` writes the buffer just before COMMIT, so the entries commit with the transaction (and
  on_commit callbacks, which run after, find them); if the INSERT fails, the commit fails, and Atomic
  rolls back and raises as for any failed commit;
- ``_rollback`` and ``close`` drop it: the entries die with the transaction.

``prepared_cursor`` gives a cursor that binds parameters server side, which Django's own cursors do
not do (unless OPTIONS set ``server_side_binding``): psycopg can then prepare a statement sent again
and again with the same text (the journal's INSERT), and PostgreSQL skips parsing and planning it.
Django also turns preparation off for the connection; ``get_connection_params`` turns it back on, which
only affects server-binding cursors (client-binding ones never prepare). Behind a connection pooler
that cannot carry prepared statements, set OPTIONS ``prepare_threshold`` to None.

``prepared_reads`` sends several such statements in one round trip (psycopg's pipeline mode): on a
hot path, each round trip to the server costs far more than the statement itself (the gateway reads
a token's versions and the person's citizen id together).
"""

from django.db.backends.postgresql.base import ServerBindingCursor
from django.utils.functional import cached_property
from django_prometheus.db.backends.postgresql import base
from django_prometheus.db.common import ExportingCursorWrapper


class DatabaseWrapper(base.DatabaseWrapper):
    # A protection.journal buffer, set on the first entry recorded in an atomic block on this connection.
    journal_buffer = None

    def _commit(self):
        if self.journal_buffer:
            self.journal_buffer.flush()
        return super()._commit()

    def _rollback(self):
        if self.journal_buffer:
            self.journal_buffer.discard()
        return super()._rollback()

    def close(self):
        if self.journal_buffer:
            self.journal_buffer.discard()
        return super().close()

    def get_connection_params(self):
        params = super().get_connection_params()
        # Django turns psycopg's statement preparation off (for connection poolers) unless OPTIONS set
        # prepare_threshold. Its own cursors bind client side and never prepare anyway, so psycopg's
        # default only concerns prepared_cursor() statements.
        if "prepare_threshold" not in self.settings_dict["OPTIONS"]:
            params["prepare_threshold"] = 5
        return params

    @cached_property
    def _server_binding_cursor_class(self):
        return ExportingCursorWrapper(ServerBindingCursor, self.alias, self.vendor)

    def prepared_cursor(self):
        """A Django cursor (execute wrappers, error wrapping, query log) binding parameters server side.

        psycopg prepares a statement on its prepare_threshold-th run (5th) with the same text and
        parameter types on the connection.
        """
        self.ensure_connection()
        with self.wrap_database_errors:
            return self._prepare_cursor(self._server_binding_cursor_class(self.connection))

    def prepared_reads(self, *queries: tuple[str, list]) -> list[list[tuple]]:
        """The rows of each ``(sql, params)`` read, all sent in one round trip; through prepared_cursor()
        cursors, so execute wrappers and error wrapping apply to each statement as usual."""
        cursors = [self.prepared_cursor() for _ in queries]
        try:
            with self.wrap_database_errors, self.connection.pipeline():
                for cursor, (sql, params) in zip(cursors, queries, strict=True):
                    cursor.execute(sql, params)
            # The pipeline's end waited for every result: fetching sends nothing more.
            return [cursor.fetchall() for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()
