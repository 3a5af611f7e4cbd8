-- The access ledger as a DuckDB view (schemas/tables/README.md); {store} as in tables.sql. Its own file: a
-- store gets a ledger/ folder only once an operator has written to it, and a view over no files fails.
-- ledger/YYYY/MM/DD/<namespace>/<resource>/<name>/<uid>/<seq>.json (kubegate.ledger/v1): an entry a file
CREATE OR REPLACE VIEW kubegate_ledger AS
SELECT * EXCLUDE (filename), regexp_extract(filename, '/ledger/([0-9]{4}/[0-9]{2}/[0-9]{2})/', 1) AS day
FROM read_json('{store}/ledger/**/*.json', format = 'newline_delimited', filename = true, columns = {
  schema: 'VARCHAR', seq: 'INTEGER', previousSha256: 'VARCHAR', id: 'VARCHAR', event: 'VARCHAR', "at": 'VARCHAR', recordedAt: 'VARCHAR',
  kind: 'VARCHAR', namespace: 'VARCHAR', name: 'VARCHAR', uid: 'VARCHAR', createdAt: 'VARCHAR', policy: 'VARCHAR', actor: 'VARCHAR',
  message: 'VARCHAR', reason: 'VARCHAR', subject: 'STRUCT(kind VARCHAR, name VARCHAR, namespace VARCHAR)', subjectName: 'VARCHAR', requester: 'VARCHAR', expiresAt: 'VARCHAR', approvalRequest: 'VARCHAR',
  approvals: 'INTEGER', decision: 'VARCHAR', pullRequest: 'STRUCT(url VARCHAR, author VARCHAR, approvers VARCHAR[], mergedAt VARCHAR)',
  target: 'STRUCT(kind VARCHAR, name VARCHAR, uid VARCHAR)'
});
