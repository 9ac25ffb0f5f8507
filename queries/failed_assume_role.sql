-- title: Failed AssumeRole
-- answers: Failed role assumptions: who tried which role, the error, how often.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
SELECT coalesce(useridentity_arn, useridentity_principalid, sourceipaddress) AS caller,
       requestparameters_rolearn AS role_arn, eventname, errorcode,
       count(*) AS failures, min(eventtime) AS first_seen, max(eventtime) AS last_seen
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND eventsource = 'sts.amazonaws.com'
  AND eventname IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity')
  AND errorcode IS NOT NULL
GROUP BY 1, 2, 3, 4
ORDER BY failures DESC, caller
