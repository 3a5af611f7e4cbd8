-- Who deleted pods in namespace $namespace between two days (last month: $from_day '2026/11/01', $to_day '2026/11/30'):
-- every delete the API server answered with success, with the subject, grant, approval and rule behind it.
SELECT "time", subject, "grant", name AS pod, approval, rule, decision, status, session
FROM kubegate_calls
WHERE day BETWEEN $from_day AND $to_day
  AND verb = 'delete' AND "group" = '' AND resource = 'pods' AND subresource = '' AND namespace = $namespace
  AND status BETWEEN 200 AND 299
ORDER BY "time", session, seq;
