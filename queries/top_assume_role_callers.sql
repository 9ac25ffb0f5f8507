-- title: Top AssumeRole callers and roles
-- answers: Who assumes which roles most often (successful calls).
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
-- param: limit = 50 | Rows to return
SELECT coalesce(useridentity_arn, useridentity_invokedby, useridentity_principalid) AS caller,
       requestparameters_rolearn AS role_arn, count(*) AS calls
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND eventsource = 'sts.amazonaws.com'
  AND eventname = 'AssumeRole'
  AND errorcode IS NULL
GROUP BY 1, 2
ORDER BY calls DESC, caller, role_arn
LIMIT {{limit}}
