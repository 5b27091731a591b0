import psycopg2


def test_the_postgres_fixture_gives_an_empty_database_that_accepts_writes(postgres_dsn: str):
    with psycopg2.connect(postgres_dsn) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE t (id int primary key)")
        cursor.execute("INSERT INTO t VALUES (1)")
        cursor.execute("SELECT count(*) FROM t")
        assert cursor.fetchone() == (1,)
