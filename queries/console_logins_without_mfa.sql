-- title: Console logins without MFA
-- answers: Successful console sign-ins that did not use MFA, by whom and from where.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
SELECT eventtime, account, useridentity_type, useridentity_arn, sourceipaddress, useragent
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND eventname = 'ConsoleLogin'
  AND responseelements_consolelogin = 'Success'
  AND additionaleventdata_mfaused = 'No'
ORDER BY eventtime
