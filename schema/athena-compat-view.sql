-- Compatibility view: the curated table presented with the column names and the
-- nested `useridentity` struct of AWS's documented CloudTrail table for Athena, so
-- queries written for that table run unchanged. Differences: `eventtime`,
-- `readonly`, `sessioncredentialfromconsole` and creationdate are strings here as
-- there (ISO 8601 UTC, 'true'/'false'); loose JSON fields hold exact JSON text ('null'
-- for an explicit null); webidfederationdata.attributes is a map only when it holds
-- strings; the partition columns account, region, day are added.
CREATE OR REPLACE VIEW {{view}} AS
SELECT
  eventversion,
  CAST(ROW(
    useridentity_type, useridentity_principalid, useridentity_arn, useridentity_accountid,
    useridentity_invokedby, useridentity_accesskeyid, useridentity_username,
    CAST(ROW(useridentity_onbehalfof_userid, useridentity_onbehalfof_identitystorearn)
      AS ROW(userid VARCHAR, identitystorearn VARCHAR)),
    CAST(ROW(
      CAST(ROW(
        CAST(useridentity_sessioncontext_attributes_mfaauthenticated AS VARCHAR),
        date_format(useridentity_sessioncontext_attributes_creationdate, '%Y-%m-%dT%H:%i:%sZ'))
        AS ROW(mfaauthenticated VARCHAR, creationdate VARCHAR)),
      CAST(ROW(
        useridentity_sessioncontext_sessionissuer_type, useridentity_sessioncontext_sessionissuer_principalid,
        useridentity_sessioncontext_sessionissuer_arn, useridentity_sessioncontext_sessionissuer_accountid,
        useridentity_sessioncontext_sessionissuer_username)
        AS ROW(type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, username VARCHAR)),
      useridentity_sessioncontext_ec2roledelivery,
      CAST(ROW(
        useridentity_sessioncontext_webidfederationdata_federatedprovider,
        TRY_CAST(json_parse(useridentity_sessioncontext_webidfederationdata_attributes) AS MAP(VARCHAR, VARCHAR)))
        AS ROW(federatedprovider VARCHAR, attributes MAP(VARCHAR, VARCHAR))))
      AS ROW(
        attributes ROW(mfaauthenticated VARCHAR, creationdate VARCHAR),
        sessionissuer ROW(type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, username VARCHAR),
        ec2roledelivery VARCHAR,
        webidfederationdata ROW(federatedprovider VARCHAR, attributes MAP(VARCHAR, VARCHAR)))))
    AS ROW(
      type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, invokedby VARCHAR,
      accesskeyid VARCHAR, username VARCHAR,
      onbehalfof ROW(userid VARCHAR, identitystorearn VARCHAR),
      sessioncontext ROW(
        attributes ROW(mfaauthenticated VARCHAR, creationdate VARCHAR),
        sessionissuer ROW(type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, username VARCHAR),
        ec2roledelivery VARCHAR,
        webidfederationdata ROW(federatedprovider VARCHAR, attributes MAP(VARCHAR, VARCHAR))))) AS useridentity,
  date_format(eventtime, '%Y-%m-%dT%H:%i:%sZ') AS eventtime,
  eventsource,
  eventname,
  awsregion,
  sourceipaddress,
  useragent,
  errorcode,
  errormessage,
  requestparameters,
  responseelements,
  additionaleventdata,
  requestid,
  eventid,
  resources,
  eventtype,
  apiversion,
  CAST(readonly AS VARCHAR) AS readonly,
  recipientaccountid,
  serviceeventdetails,
  sharedeventid,
  vpcendpointid,
  vpcendpointaccountid,
  eventcategory,
  CAST(ROW(addendum_reason, addendum_updatedfields, addendum_originalrequestid, addendum_originaleventid)
    AS ROW(reason VARCHAR, updatedfields VARCHAR, originalrequestid VARCHAR, originaleventid VARCHAR)) AS addendum,
  CAST(sessioncredentialfromconsole AS VARCHAR) AS sessioncredentialfromconsole,
  edgedevicedetails,
  CAST(ROW(tlsdetails_tlsversion, tlsdetails_ciphersuite, tlsdetails_clientprovidedhostheader)
    AS ROW(tlsversion VARCHAR, ciphersuite VARCHAR, clientprovidedhostheader VARCHAR)) AS tlsdetails,
  account,
  region,
  day
FROM {{table}}
