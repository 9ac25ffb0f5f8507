-- title: Events of one principal in a time window
-- answers: What a principal (user, role or assumed-role session) did between two instants.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
-- param: principal_arn = arn:aws:iam::111122223333:role/Admin | ARN of the user, role or session; a role matches its sessions
-- param: from_time = 1970-01-01T00:00:00Z | Start instant (ISO 8601)
-- param: to_time = 2100-01-01T00:00:00Z | End instant (ISO 8601)
SELECT eventtime, account, region, useridentity_arn, eventsource, eventname, sourceipaddress, errorcode, requestparameters
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND (useridentity_arn = '{{principal_arn}}' OR useridentity_sessioncontext_sessionissuer_arn = '{{principal_arn}}')
  AND eventtime BETWEEN from_iso8601_timestamp('{{from_time}}') AND from_iso8601_timestamp('{{to_time}}')
ORDER BY eventtime
