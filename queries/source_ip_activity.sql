-- title: Activity from one source IP
-- answers: Which principals called what from an IP address, how often, first and last seen.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
-- param: ip = 198.51.100.7 | The source IP address
SELECT coalesce(useridentity_arn, useridentity_principalid) AS principal, eventsource, eventname,
       count(*) AS calls, min(eventtime) AS first_seen, max(eventtime) AS last_seen
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND sourceipaddress = '{{ip}}'
GROUP BY 1, 2, 3
ORDER BY calls DESC, principal, eventname
