-- title: IAM changes
-- answers: Successful changes to IAM users, access keys, groups, roles and policies.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
SELECT eventtime, account, coalesce(useridentity_arn, useridentity_principalid) AS principal, eventname,
       coalesce(requestparameters_username, requestparameters_rolename, requestparameters_groupname,
                requestparameters_policyarn) AS target,
       sourceipaddress
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND eventsource = 'iam.amazonaws.com'
  AND errorcode IS NULL
  AND (eventname LIKE 'Create%' OR eventname LIKE 'Delete%' OR eventname LIKE 'Attach%'
       OR eventname LIKE 'Detach%' OR eventname LIKE 'Put%' OR eventname LIKE 'Update%'
       OR eventname LIKE 'Add%' OR eventname LIKE 'Remove%' OR eventname LIKE 'Set%'
       OR eventname LIKE 'Enable%' OR eventname LIKE 'Deactivate%' OR eventname LIKE 'Upload%')
ORDER BY eventtime
