-- kubegate's store as DuckDB views (schemas/tables/README.md). Replace {store} with the store's root:
-- a folder (a file:// store) or s3://BUCKET/PREFIX (with DuckDB's httpfs and an S3 secret). DuckDB reads
-- no Hive partitions from YYYY/MM/DD keys (it knows only key=value folders): each view reads its folder
-- with a glob and filename=true and derives `day` ('YYYY/MM/DD', as Athena's projection writes it) from
-- the key. The columns are the tables' versioned schema: fields a newer format adds are left out until
-- they are named here. A view over a folder the store does not have yet fails with "No files found".

-- calls/YYYY/MM/DD/<session>-<writer>-<segment>.jsonl (format v6): every call on a resource, a row a line
CREATE OR REPLACE VIEW kubegate_calls AS
SELECT * EXCLUDE (filename), regexp_extract(filename, '/calls/([0-9]{4}/[0-9]{2}/[0-9]{2})/[^/]+$', 1) AS day
FROM read_json('{store}/calls/*/*/*/*.jsonl', format = 'newline_delimited', filename = true, columns = {
  v: 'INTEGER', "time": 'VARCHAR', session: 'VARCHAR', writer: 'VARCHAR', seq: 'BIGINT', requestId: 'VARCHAR',
  verb: 'VARCHAR', "group": 'VARCHAR', resource: 'VARCHAR', subresource: 'VARCHAR', namespace: 'VARCHAR', name: 'VARCHAR',
  subject: 'VARCHAR', "grant": 'VARCHAR', approval: 'VARCHAR', rule: 'VARCHAR', decision: 'VARCHAR', status: 'INTEGER',
  command: 'VARCHAR', exitCode: 'INTEGER'
});

-- index/YYYY/MM/DD/<session>/<writer>.json (v1: index/YYYY/MM/DD/<session>.json): a session writer's index, a row a file
CREATE OR REPLACE VIEW kubegate_sessions AS
SELECT * EXCLUDE (filename), regexp_extract(filename, '/index/([0-9]{4}/[0-9]{2}/[0-9]{2})/', 1) AS day
FROM read_json('{store}/index/**/*.json', format = 'newline_delimited', filename = true, columns = {
  v: 'INTEGER', sessionId: 'VARCHAR', writer: 'VARCHAR', prefix: 'VARCHAR',
  subject: 'STRUCT(kind VARCHAR, name VARCHAR, namespace VARCHAR)', "grant": 'STRUCT(namespace VARCHAR, name VARCHAR, uid VARCHAR)',
  policy: 'STRUCT(namespace VARCHAR, name VARCHAR, version VARCHAR)', client: 'STRUCT(address VARCHAR, userAgent VARCHAR, command VARCHAR)',
  startedAt: 'VARCHAR', endedAt: 'VARCHAR', segments: 'INTEGER', events: 'BIGINT',
  namespaces: 'VARCHAR[]', verbs: 'VARCHAR[]', resources: 'VARCHAR[]', decisions: 'VARCHAR[]', commands: 'VARCHAR[]'
});

-- sessions/YYYY/MM/DD/<subject>/<session>/<writer>/segment-NNNNNN.manifest.json: a sealed segment's manifest, a row a file
CREATE OR REPLACE VIEW kubegate_manifests AS
SELECT * EXCLUDE (filename), regexp_extract(filename, '/sessions/([0-9]{4}/[0-9]{2}/[0-9]{2})/', 1) AS day
FROM read_json('{store}/sessions/**/*.manifest.json', format = 'newline_delimited', filename = true, columns = {
  v: 'INTEGER', sessionId: 'VARCHAR', writer: 'VARCHAR', "index": 'INTEGER', "key": 'VARCHAR', firstSeq: 'BIGINT', lastSeq: 'BIGINT',
  events: 'BIGINT', bytes: 'BIGINT', sha256: 'VARCHAR', previousSegmentSha256: 'VARCHAR', previousManifestSha256: 'VARCHAR',
  openedAt: 'VARCHAR', sealedAt: 'VARCHAR', final: 'BOOLEAN', retention: 'STRUCT(mode VARCHAR, retainUntil VARCHAR)'
});

-- DuckDB only: the SHA-256 of every stored object's bytes under sessions/, by key (Athena and Trino read rows, not bytes)
CREATE OR REPLACE VIEW kubegate_stored_objects AS
SELECT substr(filename, length('{store}') + 2) AS "key", sha256(content) AS sha256
FROM read_blob('{store}/sessions/**');
