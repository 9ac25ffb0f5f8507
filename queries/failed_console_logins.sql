-- title: Failed console logins
-- answers: Failed console sign-ins per identity and source IP, with first and last attempt.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
SELECT coalesce(useridentity_arn, useridentity_username, useridentity_principalid) AS principal,
       sourceipaddress, count(*) AS failures, min(eventtime) AS first_seen, max(eventtime) AS last_seen
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND eventname = 'ConsoleLogin'
  AND responseelements_consolelogin = 'Failure'
GROUP BY 1, 2
ORDER BY failures DESC, principal
