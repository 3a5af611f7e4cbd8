-- Writers' chains of sessions started between $from_day and $to_day that the checkpoint log (format v5,
-- COMPLIANCE-locked) says reached further than the store now holds: a segment the log names is gone, or
-- the log saw the chain end and no final segment is stored — whatever the session's index (a cache, not
-- locked) says now. The checkpoints' signatures need the keys: `kubegate sessions verify`.
WITH logged AS (
  SELECT sessionId, writer, max(lastIndex) AS logged_index, bool_or(final) AS logged_final
  FROM kubegate_checkpoints
  WHERE day BETWEEN $from_day AND $to_day
  GROUP BY sessionId, writer
), stored AS (
  SELECT sessionId, writer, max("index") AS stored_index, bool_or(final) AS stored_final
  FROM kubegate_manifests
  WHERE day BETWEEN $from_day AND $to_day
  GROUP BY sessionId, writer
)
SELECT l.sessionId AS session, l.writer, l.logged_index, s.stored_index, l.logged_final, coalesce(s.stored_final, false) AS stored_final
FROM logged l
LEFT JOIN stored s ON s.sessionId = l.sessionId AND s.writer = l.writer
WHERE s.stored_index IS NULL OR s.stored_index < l.logged_index OR (l.logged_final AND NOT coalesce(s.stored_final, false))
ORDER BY session, l.writer;
