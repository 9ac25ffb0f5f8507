-- title: New regions used
-- answers: Regions with activity between from_day and to_day that had none in the baseline before from_day.
-- param: table = cloudtrail | Curated table (database.table)
-- param: baseline_from_day = today-90 | First day of the baseline, YYYY-MM-DD
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
SELECT account, awsregion, min(day) AS first_day, count(*) AS events,
       count(DISTINCT coalesce(useridentity_arn, useridentity_principalid)) AS principals
FROM {{table}}
WHERE day BETWEEN '{{baseline_from_day}}' AND '{{to_day}}'
GROUP BY account, awsregion
HAVING min(day) >= '{{from_day}}'
ORDER BY first_day, account, awsregion
