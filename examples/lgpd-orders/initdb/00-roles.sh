# Sourced by the postgres image's entrypoint on first start, before 10-seed.sql: the agent's
# database role. Not a superuser and not the tables' owner: seed.sql grants it the rows it may use.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v app_password="$ORDERS_APP_PASSWORD" <<'SQL'
-- The server logs data-changing statements (orders-db.yaml: log_statement=mod); the password is not data for the log.
SET log_statement = 'none';
CREATE ROLE orders_app LOGIN PASSWORD :'app_password';
SQL
