from django.db.backends.postgresql import base, operations

from tests.owner import owner_cursor


class DatabaseOperations(operations.DatabaseOperations):
    def execute_sql_flush(self, sql_list):
        with owner_cursor(self.connection) as cursor:
            for sql in sql_list:
                cursor.execute(sql)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
