-- title: Security-control tampering
-- answers: Attempts to stop or weaken logging and detection: CloudTrail, GuardDuty, Config, Security Hub, Access Analyzer, flow logs.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
SELECT eventtime, account, region, coalesce(useridentity_arn, useridentity_principalid) AS principal,
       eventsource, eventname, errorcode, sourceipaddress
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND ((eventsource = 'cloudtrail.amazonaws.com' AND eventname IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors', 'PutInsightSelectors', 'DeleteEventDataStore'))
    OR (eventsource = 'guardduty.amazonaws.com' AND eventname IN ('DeleteDetector', 'UpdateDetector', 'DisassociateFromMasterAccount', 'DisassociateFromAdministratorAccount', 'DeleteMembers', 'StopMonitoringMembers', 'CreateIPSet', 'UpdateIPSet', 'DeletePublishingDestination'))
    OR (eventsource = 'config.amazonaws.com' AND eventname IN ('StopConfigurationRecorder', 'DeleteConfigurationRecorder', 'DeleteDeliveryChannel', 'DeleteConfigRule'))
    OR (eventsource = 'securityhub.amazonaws.com' AND eventname IN ('DisableSecurityHub', 'BatchDisableStandards', 'DeleteInsight'))
    OR (eventsource = 'access-analyzer.amazonaws.com' AND eventname = 'DeleteAnalyzer')
    OR (eventsource = 'ec2.amazonaws.com' AND eventname = 'DeleteFlowLogs'))
ORDER BY eventtime
