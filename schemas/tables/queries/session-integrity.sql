-- Sessions started between $from_day and $to_day that are still open or were tampered with, as far as the
-- stored rows tell: a segment missing (the writer's index lists more, or the indexes of the manifests have a
-- hole), a manifest whose previous-segment hash is not its predecessor's, a final segment gone from a session
-- whose index says it ended. A change to a segment's bytes needs the bytes: duckdb/changed-segments.sql, or
-- `kubegate sessions verify`.
WITH links AS (
  SELECT sessionId, writer, "index", final, previousSegmentSha256,
         lag("index") OVER (PARTITION BY sessionId, writer ORDER BY "index") AS prior_index,
         lag(sha256) OVER (PARTITION BY sessionId, writer ORDER BY "index") AS prior_sha256
  FROM kubegate_manifests
  WHERE day BETWEEN $from_day AND $to_day
), chains AS (
  SELECT sessionId, writer, count(*) AS sealed, min("index") AS first_index, bool_or(final) AS ended,
         count_if(CASE WHEN "index" = 0 THEN previousSegmentSha256 IS NOT NULL
                       ELSE prior_index IS DISTINCT FROM "index" - 1 OR previousSegmentSha256 IS DISTINCT FROM prior_sha256 END) AS broken_links
  FROM links
  GROUP BY sessionId, writer
), judged AS (
  SELECT s.sessionId AS session, s.writer, s.subject.name AS subject, s.startedAt, s.endedAt, s.segments,
         coalesce(c.sealed, 0) AS sealed,
         CASE WHEN c.broken_links > 0 THEN 'a manifest does not chain to the segment before it'
              WHEN c.first_index <> 0 OR coalesce(c.sealed, 0) < s.segments THEN 'segments missing'
              WHEN s.endedAt IS NOT NULL AND NOT coalesce(c.ended, false) THEN 'the final segment is missing'
         END AS problem,
         coalesce(c.ended, false) AS ended
  FROM kubegate_sessions s
  LEFT JOIN chains c ON c.sessionId = s.sessionId AND c.writer IS NOT DISTINCT FROM s.writer
  WHERE s.day BETWEEN $from_day AND $to_day
)
SELECT session, writer, subject, startedAt, CASE WHEN problem IS NOT NULL THEN 'tampered' ELSE 'open' END AS status,
       coalesce(problem, 'no final segment yet') AS reason, segments, sealed
FROM judged
WHERE problem IS NOT NULL OR NOT ended
ORDER BY startedAt, session, writer;
