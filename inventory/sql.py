"""A cursor for the statements that run on every order and every stock change.

Django binds parameters on the client by default, so PostgreSQL parses and
plans each statement afresh.  The stock writer, the order insert, the SKU
lookup and the push request run with the same few shapes thousands of times
an hour, and planning them cost more server time than running them.  A cursor
that binds on the server lets psycopg prepare each shape once per connection,
after ``prepare_threshold`` runs (``DATABASE_PREPARE_THRESHOLD``, see
settings).  Everywhere else keeps Django's own cursor.
"""

from contextlib import contextmanager

from django.db import connection


@contextmanager
def repeated_statement_cursor():
    """A cursor (Django's wrapper: logged and error-mapped as usual) that binds on the server.

    On SQLite it is Django's ordinary cursor: SQLite caches its statements itself.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = connection._prepare_cursor(psycopg.Cursor(connection.connection))
    with cursor:
        yield cursor
