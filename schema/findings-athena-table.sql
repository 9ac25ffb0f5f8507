CREATE EXTERNAL TABLE IF NOT EXISTS `default`.`cloudtrail_findings` (
  `rule_id`            string COMMENT 'The rule\'s `id` (a UUID in SigmaHQ rules); its title when the rule has no id.',
  `rule_title`         string COMMENT 'The rule\'s title.',
  `rule_level`         string COMMENT 'The rule\'s level: informational, low, medium, high or critical (null when the rule sets none).',
  `rule_status`        string COMMENT 'The rule\'s status: stable, test, experimental, deprecated or unsupported.',
  `rule_tags`          array<string> COMMENT 'The rule\'s tags, e.g. attack.persistence, attack.t1078.',
  `eventid`            string COMMENT 'eventID of the matched record: join to the curated table on it.',
  `eventtime`          timestamp COMMENT 'eventTime of the matched record, UTC.',
  `eventsource`        string COMMENT 'Service the request was made to.',
  `eventname`          string COMMENT 'Requested action.',
  `useridentity_arn`   string COMMENT 'ARN of the principal that made the request.',
  `useridentity_type`  string COMMENT 'Type of that principal (Root, IAMUser, AssumedRole, ...).',
  `sourceipaddress`    string COMMENT 'IP address the request came from.',
  `useragent`          string COMMENT 'Agent through which the request was made.',
  `errorcode`          string COMMENT 'Error code, when the request failed.',
  `recipientaccountid` string COMMENT 'Account that received the event.',
  `source_object`      string COMMENT 'The delivered CloudTrail object the record was read from.'
)
PARTITIONED BY (`account` string, `region` string, `day` string)
STORED AS PARQUET
LOCATION 's3://YOUR-BUCKET/curated/cloudtrail/'
TBLPROPERTIES (
  'classification'='parquet',
  'parquet.compression'='ZSTD',
  'trailpack.schema'='54821fd60199d406'
);
