-- kubegate's store as Trino tables (schemas/tables/README.md), in a Hive catalog whose file system reaches
-- the store (catalog properties: hive.partition-projection-enabled=true; and hive.recursive-directories=true,
-- since a session's index, a checkpoint and a ledger entry lie in folders below their day). A Trino on AWS Glue needs
-- none of this: it reads the tables athena.sql made, projection included. Replace s3://BUCKET/PREFIX and
-- 2025/01/01 as there; `day` is 'YYYY/MM/DD'.

CREATE TABLE kubegate_calls (
  v integer, "time" varchar, session varchar, writer varchar, seq bigint, requestid varchar,
  verb varchar, "group" varchar, resource varchar, subresource varchar, namespace varchar, name varchar,
  subject varchar, "grant" varchar, approval varchar, rule varchar, decision varchar, status integer,
  command varchar, exitcode integer,
  day varchar WITH (partition_projection_type = 'date', partition_projection_format = 'yyyy/MM/dd',
    partition_projection_range = ARRAY['2025/01/01', 'NOW'], partition_projection_interval = 1, partition_projection_interval_unit = 'DAYS')
) WITH (
  format = 'OPENX_JSON', external_location = 's3://BUCKET/PREFIX/calls/', partitioned_by = ARRAY['day'],
  partition_projection_enabled = true, partition_projection_location_template = 's3://BUCKET/PREFIX/calls/${day}/'
);

CREATE TABLE kubegate_sessions (
  v integer, sessionid varchar, writer varchar, prefix varchar,
  subject row(kind varchar, name varchar, namespace varchar),
  "grant" row(namespace varchar, name varchar, uid varchar),
  policy row(namespace varchar, name varchar, version varchar),
  client row(address varchar, useragent varchar, command varchar),
  startedat varchar, endedat varchar, segments integer, events bigint,
  namespaces array(varchar), verbs array(varchar), resources array(varchar), decisions array(varchar), commands array(varchar),
  day varchar WITH (partition_projection_type = 'date', partition_projection_format = 'yyyy/MM/dd',
    partition_projection_range = ARRAY['2025/01/01', 'NOW'], partition_projection_interval = 1, partition_projection_interval_unit = 'DAYS')
) WITH (
  format = 'OPENX_JSON', external_location = 's3://BUCKET/PREFIX/index/', partitioned_by = ARRAY['day'],
  partition_projection_enabled = true, partition_projection_location_template = 's3://BUCKET/PREFIX/index/${day}/'
);

CREATE TABLE kubegate_session_objects (
  v integer, sessionid varchar, writer varchar, "index" integer, "key" varchar, firstseq bigint, lastseq bigint,
  events bigint, bytes bigint, sha256 varchar, previoussegmentsha256 varchar, previousmanifestsha256 varchar,
  openedat varchar, sealedat varchar, final boolean, retention row(mode varchar, retainuntil varchar),
  day varchar WITH (partition_projection_type = 'date', partition_projection_format = 'yyyy/MM/dd',
    partition_projection_range = ARRAY['2025/01/01', 'NOW'], partition_projection_interval = 1, partition_projection_interval_unit = 'DAYS')
) WITH (
  format = 'OPENX_JSON', external_location = 's3://BUCKET/PREFIX/sessions/', partitioned_by = ARRAY['day'],
  partition_projection_enabled = true, partition_projection_location_template = 's3://BUCKET/PREFIX/sessions/${day}/'
);

CREATE VIEW kubegate_manifests AS
SELECT * FROM kubegate_session_objects WHERE "$path" LIKE '%.manifest.json';

CREATE TABLE kubegate_ledger (
  schema varchar, seq integer, previoussha256 varchar, id varchar, event varchar, "at" varchar, recordedat varchar,
  kind varchar, namespace varchar, name varchar, uid varchar, createdat varchar, policy varchar, actor varchar,
  message varchar, reason varchar, subject row(kind varchar, name varchar, namespace varchar), subjectname varchar, requester varchar, expiresat varchar, approvalrequest varchar,
  approvals integer, decision varchar,
  pullrequest row(url varchar, author varchar, approvers array(varchar), mergedat varchar),
  target row(kind varchar, name varchar, uid varchar),
  day varchar WITH (partition_projection_type = 'date', partition_projection_format = 'yyyy/MM/dd',
    partition_projection_range = ARRAY['2025/01/01', 'NOW'], partition_projection_interval = 1, partition_projection_interval_unit = 'DAYS')
) WITH (
  format = 'OPENX_JSON', external_location = 's3://BUCKET/PREFIX/ledger/', partitioned_by = ARRAY['day'],
  partition_projection_enabled = true, partition_projection_location_template = 's3://BUCKET/PREFIX/ledger/${day}/'
);

CREATE TABLE kubegate_checkpoints (
  v integer, sessionid varchar, writer varchar, startedat varchar, lastindex integer, lastmanifestsha256 varchar,
  final boolean, "time" varchar, signature row(keyid varchar, algorithm varchar, value varchar),
  day varchar WITH (partition_projection_type = 'date', partition_projection_format = 'yyyy/MM/dd',
    partition_projection_range = ARRAY['2025/01/01', 'NOW'], partition_projection_interval = 1, partition_projection_interval_unit = 'DAYS')
) WITH (
  format = 'OPENX_JSON', external_location = 's3://BUCKET/PREFIX/checkpoints/', partitioned_by = ARRAY['day'],
  partition_projection_enabled = true, partition_projection_location_template = 's3://BUCKET/PREFIX/checkpoints/${day}/'
);
