-- kubegate's store as Amazon Athena tables (schemas/tables/README.md). Replace s3://BUCKET/PREFIX with the
-- store's URL (SessionPolicy spec.gateway.storage.url) and 2025/01/01 with the day the store began.
-- Every table is partitioned by `day` ('YYYY/MM/DD', a string) through partition projection: no crawler,
-- no MSCK REPAIR; a query that names days (WHERE day BETWEEN '2026/11/01' AND '2026/11/30') reads only
-- those days' keys. Athena reads every file under a partition's folder, subfolders included.

-- calls/YYYY/MM/DD/<session>-<writer>-<segment>.jsonl (format v6): every call on a resource, a row a line
CREATE EXTERNAL TABLE kubegate_calls (
  v int, `time` string, session string, writer string, seq bigint, requestid string,
  verb string, `group` string, resource string, subresource string, namespace string, name string,
  subject string, `grant` string, approval string, rule string, decision string, status int,
  command string, exitcode int
)
PARTITIONED BY (day string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://BUCKET/PREFIX/calls/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '2025/01/01,NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://BUCKET/PREFIX/calls/${day}/'
);

-- index/YYYY/MM/DD/<session>/<writer>.json: a session writer's index, a row a file (rewritten as the session goes)
CREATE EXTERNAL TABLE kubegate_sessions (
  v int, sessionid string, writer string, prefix string,
  subject struct<kind:string, name:string, namespace:string>,
  `grant` struct<namespace:string, name:string, uid:string>,
  policy struct<namespace:string, name:string, version:string>,
  client struct<address:string, useragent:string, command:string>,
  startedat string, endedat string, segments int, events bigint,
  namespaces array<string>, verbs array<string>, resources array<string>, decisions array<string>, commands array<string>
)
PARTITIONED BY (day string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://BUCKET/PREFIX/index/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '2025/01/01,NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://BUCKET/PREFIX/index/${day}/'
);

-- sessions/YYYY/MM/DD/…: the segments' folders; a manifest is a row a file, a segment's event lines are
-- rows with no manifest fields (the view below keeps the manifests). A query over them reads the days it names.
CREATE EXTERNAL TABLE kubegate_session_objects (
  v int, sessionid string, writer string, `index` int, `key` string, firstseq bigint, lastseq bigint,
  events bigint, bytes bigint, sha256 string, previoussegmentsha256 string, previousmanifestsha256 string,
  openedat string, sealedat string, final boolean, retention struct<mode:string, retainuntil:string>
)
PARTITIONED BY (day string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION 's3://BUCKET/PREFIX/sessions/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '2025/01/01,NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://BUCKET/PREFIX/sessions/${day}/'
);

CREATE VIEW kubegate_manifests AS
SELECT * FROM kubegate_session_objects WHERE "$path" LIKE '%.manifest.json';

-- ledger/YYYY/MM/DD/<namespace>/<resource>/<name>/<uid>/<seq>.json (kubegate.ledger/v1): an entry a file;
-- the day is the object's creation, so one grant's or approval's chain is in one day
CREATE EXTERNAL TABLE kubegate_ledger (
  `schema` string, seq int, previoussha256 string, id string, event string, `at` string, recordedat string,
  kind string, namespace string, name string, uid string, createdat string, policy string, actor string,
  message string, reason string,
  subject struct<kind:string, name:string, namespace:string>, subjectname string, requester string, expiresat string, approvalrequest string,
  approvals int, decision string,
  pullrequest struct<url:string, author:string, approvers:array<string>, mergedat:string>,
  target struct<kind:string, name:string, uid:string>
)
PARTITIONED BY (day string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://BUCKET/PREFIX/ledger/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '2025/01/01,NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://BUCKET/PREFIX/ledger/${day}/'
);

-- checkpoints/YYYY/MM/DD/<session>/<writer>-<segment>-<time>.json (format v5, from a gateway with a signing
-- key): a signed chain tip, a row a file, under COMPLIANCE lock
CREATE EXTERNAL TABLE kubegate_checkpoints (
  v int, sessionid string, writer string, startedat string, lastindex int, lastmanifestsha256 string,
  final boolean, `time` string, signature struct<keyid:string, algorithm:string, value:string>
)
PARTITIONED BY (day string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://BUCKET/PREFIX/checkpoints/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '2025/01/01,NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://BUCKET/PREFIX/checkpoints/${day}/'
);
