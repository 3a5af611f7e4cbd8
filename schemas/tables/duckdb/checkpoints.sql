-- The checkpoint log as a DuckDB view (schemas/tables/README.md); {store} as in tables.sql. Its own file: a
-- store gets a checkpoints/ folder only from a gateway that holds a signing key (format v5), and a view over
-- no files fails.
-- checkpoints/YYYY/MM/DD/<session>/<writer>-<segment>-<time>.json: a signed chain tip, a row a file
CREATE OR REPLACE VIEW kubegate_checkpoints AS
SELECT * EXCLUDE (filename), regexp_extract(filename, '/checkpoints/([0-9]{4}/[0-9]{2}/[0-9]{2})/', 1) AS day
FROM read_json('{store}/checkpoints/**/*.json', format = 'newline_delimited', filename = true, columns = {
  v: 'INTEGER', sessionId: 'VARCHAR', writer: 'VARCHAR', startedAt: 'VARCHAR', lastIndex: 'INTEGER', lastManifestSha256: 'VARCHAR',
  final: 'BOOLEAN', "time": 'VARCHAR', signature: 'STRUCT(keyId VARCHAR, algorithm VARCHAR, value VARCHAR)'
});
