-- title: Activity of one access key
-- answers: Everything done with an access key ID (e.g. a leaked key), in time order.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
-- param: access_key_id = AKIAIOSFODNN7EXAMPLE | The access key ID
SELECT eventtime, account, region, useridentity_arn, eventsource, eventname, sourceipaddress, useragent, errorcode
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND useridentity_accesskeyid = '{{access_key_id}}'
ORDER BY eventtime
