-- title: S3 bucket policy and ACL changes
-- answers: Changes to bucket policies, ACLs and public access blocks, by bucket.
-- param: table = cloudtrail | Curated table (database.table)
-- param: from_day = today-7 | First partition day, YYYY-MM-DD
-- param: to_day = today | Last partition day, YYYY-MM-DD
SELECT eventtime, account, requestparameters_bucketname AS bucket,
       coalesce(useridentity_arn, useridentity_principalid) AS principal, eventname, errorcode, sourceipaddress
FROM {{table}}
WHERE day BETWEEN '{{from_day}}' AND '{{to_day}}'
  AND eventsource = 's3.amazonaws.com'
  AND eventname IN ('PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketAcl', 'PutBucketPublicAccessBlock',
                    'DeleteBucketPublicAccessBlock', 'PutBucketOwnershipControls')
ORDER BY eventtime
