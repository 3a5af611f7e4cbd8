-- Every call of subject $subject ('namespace.name' for a ServiceAccount) on day $day ('2026/12/01'): what it
-- did to which object (a list, a watch or a deletecollection names none), what the policy decided and how it ended.
SELECT "time", verb, "group", resource, subresource, namespace, name, decision, rule, approval, status, command, exitCode, session
FROM kubegate_calls
WHERE day = $day AND subject = $subject
ORDER BY "time", session, seq;
