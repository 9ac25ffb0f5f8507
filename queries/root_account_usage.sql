-- title: Root account usage
-- answers: Every call made with the root user's own credentials: when, from where, what, with what result.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
SELECT eventtime, account, region, eventsource, eventname, sourceipaddress, useragent, errorcode
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND useridentity_type = 'Root'
  AND useridentity_invokedby IS NULL
  AND eventtype <> 'AwsServiceEvent'
ORDER BY eventtime
