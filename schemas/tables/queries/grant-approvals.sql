-- Grants that $approver approved, for grants and approvals created between $from_day and $to_day (the
-- ledger files an object's chain under its creation day): the decision on the grant itself (a merged pull
-- request, GitOps) or on the ApprovalRequest raised for it, when, why, and the grant's subject and reason.
WITH approvals AS (
  SELECT d.namespace, d."at", d.actor, d.reason, d.pullRequest.url AS pull_request,
         CASE WHEN d.kind = 'AccessGrant' THEN d.name ELSE r.target.name END AS grant_name,
         CASE WHEN d.kind = 'AccessGrant' THEN d.uid ELSE r.target.uid END AS grant_uid
  FROM kubegate_ledger d
  LEFT JOIN kubegate_ledger r ON r.uid = d.uid AND r.event = 'created' AND r.day BETWEEN $from_day AND $to_day
  WHERE d.day BETWEEN $from_day AND $to_day AND d.event = 'decision' AND d.decision = 'Approve' AND d.actor = $approver
    AND (d.kind = 'AccessGrant' OR r.target.kind = 'AccessGrant')
)
SELECT a.namespace, a.grant_name AS "grant", a."at", a.actor AS approver, a.reason, a.pull_request, g.subject.name AS subject, g.reason AS requested_for
FROM approvals a
LEFT JOIN kubegate_ledger g ON g.event = 'created' AND g.kind = 'AccessGrant' AND g.namespace = a.namespace AND g.name = a.grant_name
  AND (a.grant_uid IS NULL OR g.uid = a.grant_uid) AND g.day BETWEEN $from_day AND $to_day
ORDER BY a."at";
