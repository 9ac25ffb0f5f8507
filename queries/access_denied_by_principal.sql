-- title: AccessDenied and UnauthorizedOperation by principal
-- answers: Which principals are being denied, on which calls, how often.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
-- param: limit = 100 | Rows to return
SELECT coalesce(useridentity_arn, useridentity_principalid) AS principal, eventsource, eventname, errorcode,
       count(*) AS denials, min(eventtime) AS first_seen, max(eventtime) AS last_seen
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND errorcode IN ('AccessDenied', 'AccessDeniedException', 'Client.UnauthorizedOperation', 'UnauthorizedOperation')
GROUP BY 1, 2, 3, 4
ORDER BY denials DESC, principal, eventname
LIMIT {{limit}}
