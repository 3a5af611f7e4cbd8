-- DuckDB only: segments and manifests of sessions started between $from_day and $to_day whose stored bytes
-- do not hash to what their chain says — a segment to its manifest's sha256, a manifest to the next
-- manifest's previousManifestSha256 (the last manifest of a chain is anchored in nothing after it: that is
-- what object lock, and `kubegate sessions verify`, answer for).
SELECT m.sessionId AS session, m.writer, m."index" AS segment, 'segment changed' AS problem
FROM kubegate_manifests m
LEFT JOIN kubegate_stored_objects o ON o."key" = m."key"
WHERE m.day BETWEEN $from_day AND $to_day AND o.sha256 IS DISTINCT FROM m.sha256
UNION ALL
SELECT m.sessionId, m.writer, m."index" - 1, 'manifest changed'
FROM kubegate_manifests m
LEFT JOIN kubegate_stored_objects o
  ON o."key" = regexp_replace(m."key", '[^/]+$', 'segment-' || lpad(CAST(m."index" - 1 AS VARCHAR), 6, '0') || '.manifest.json')
WHERE m.day BETWEEN $from_day AND $to_day AND m."index" > 0 AND o.sha256 IS DISTINCT FROM m.previousManifestSha256
ORDER BY session, writer, segment;
