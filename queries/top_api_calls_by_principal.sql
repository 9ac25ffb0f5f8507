-- title: Top API calls by principal
-- answers: The busiest principal and API combinations.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
-- param: limit = 50 | Rows to return
SELECT coalesce(useridentity_arn, useridentity_invokedby, useridentity_principalid) AS principal,
       eventsource, eventname, count(*) AS calls
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
GROUP BY 1, 2, 3
ORDER BY calls DESC, principal, eventname
LIMIT {{limit}}
