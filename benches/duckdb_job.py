#!/usr/bin/env python3
"""The conversion trailpack does, done by DuckDB: the baseline of benches/compare.sh.

Reads the gzipped CloudTrail files of one day, flattens userIdentity into columns,
keeps loose fields (requestParameters, responseElements, ...) as JSON text, sorts by
eventTime and writes one zstd Parquet file. Types are declared up front (DuckDB's
fastest path: no schema sampling, values parsed once into structs).

usage: duckdb_job.py INPUT_DIR OUTPUT_FILE THREADS
"""
import sys

import duckdb

SESSION = (
    "STRUCT(attributes STRUCT(creationDate VARCHAR, mfaAuthenticated VARCHAR), "
    "sessionIssuer STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, userName VARCHAR), "
    "webIdFederationData JSON, sourceIdentity VARCHAR, ec2RoleDelivery VARCHAR, assumedRoot VARCHAR)"
)
IDENTITY = (
    "STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, accessKeyId VARCHAR, "
    "userName VARCHAR, invokedBy VARCHAR, identityProvider VARCHAR, credentialId VARCHAR, "
    f"sessionContext {SESSION}, onBehalfOf STRUCT(userId VARCHAR, identityStoreArn VARCHAR))"
)
RECORD = (
    f"STRUCT(eventVersion VARCHAR, userIdentity {IDENTITY}, eventTime VARCHAR, eventSource VARCHAR, "
    "eventName VARCHAR, awsRegion VARCHAR, sourceIPAddress VARCHAR, userAgent VARCHAR, errorCode VARCHAR, "
    "errorMessage VARCHAR, requestParameters JSON, responseElements JSON, additionalEventData JSON, "
    "requestID VARCHAR, eventID VARCHAR, readOnly BOOLEAN, "
    "resources STRUCT(ARN VARCHAR, accountId VARCHAR, type VARCHAR)[], eventType VARCHAR, "
    "apiVersion VARCHAR, managementEvent BOOLEAN, recipientAccountId VARCHAR, serviceEventDetails JSON, "
    "sharedEventID VARCHAR, vpcEndpointId VARCHAR, vpcEndpointAccountId VARCHAR, eventCategory VARCHAR, "
    "sessionCredentialFromConsole VARCHAR, "
    "tlsDetails STRUCT(tlsVersion VARCHAR, cipherSuite VARCHAR, clientProvidedHostHeader VARCHAR, keyExchange VARCHAR))"
)

SELECT = """
  r.eventVersion AS eventversion, CAST(r.eventTime AS TIMESTAMPTZ) AS eventtime,
  r.eventSource AS eventsource, r.eventName AS eventname, r.awsRegion AS awsregion,
  r.sourceIPAddress AS sourceipaddress, r.userAgent AS useragent, r.errorCode AS errorcode,
  r.errorMessage AS errormessage,
  r.userIdentity.type AS useridentity_type, r.userIdentity.principalId AS useridentity_principalid,
  r.userIdentity.arn AS useridentity_arn, r.userIdentity.accountId AS useridentity_accountid,
  r.userIdentity.accessKeyId AS useridentity_accesskeyid, r.userIdentity.userName AS useridentity_username,
  r.userIdentity.invokedBy AS useridentity_invokedby,
  r.userIdentity.identityProvider AS useridentity_identityprovider,
  r.userIdentity.credentialId AS useridentity_credentialid,
  CAST(r.userIdentity.sessionContext.attributes.creationDate AS TIMESTAMPTZ) AS useridentity_sessioncontext_attributes_creationdate,
  CAST(r.userIdentity.sessionContext.attributes.mfaAuthenticated AS BOOLEAN) AS useridentity_sessioncontext_attributes_mfaauthenticated,
  r.userIdentity.sessionContext.sessionIssuer.type AS useridentity_sessioncontext_sessionissuer_type,
  r.userIdentity.sessionContext.sessionIssuer.principalId AS useridentity_sessioncontext_sessionissuer_principalid,
  r.userIdentity.sessionContext.sessionIssuer.arn AS useridentity_sessioncontext_sessionissuer_arn,
  r.userIdentity.sessionContext.sessionIssuer.accountId AS useridentity_sessioncontext_sessionissuer_accountid,
  r.userIdentity.sessionContext.sessionIssuer.userName AS useridentity_sessioncontext_sessionissuer_username,
  CAST(r.userIdentity.sessionContext.webIdFederationData AS VARCHAR) AS useridentity_sessioncontext_webidfederationdata,
  r.userIdentity.sessionContext.sourceIdentity AS useridentity_sessioncontext_sourceidentity,
  r.userIdentity.sessionContext.ec2RoleDelivery AS useridentity_sessioncontext_ec2roledelivery,
  r.userIdentity.sessionContext.assumedRoot AS useridentity_sessioncontext_assumedroot,
  r.userIdentity.onBehalfOf.userId AS useridentity_onbehalfof_userid,
  r.userIdentity.onBehalfOf.identityStoreArn AS useridentity_onbehalfof_identitystorearn,
  CAST(r.requestParameters AS VARCHAR) AS requestparameters,
  CAST(r.responseElements AS VARCHAR) AS responseelements,
  CAST(r.additionalEventData AS VARCHAR) AS additionaleventdata,
  r.requestID AS requestid, r.eventID AS eventid, r.eventType AS eventtype, r.apiVersion AS apiversion,
  r.readOnly AS readonly, r.managementEvent AS managementevent,
  [{'arn': x.ARN, 'accountid': x.accountId, 'type': x.type} FOR x IN r.resources] AS resources,
  r.recipientAccountId AS recipientaccountid, CAST(r.serviceEventDetails AS VARCHAR) AS serviceeventdetails,
  r.sharedEventID AS sharedeventid, r.vpcEndpointId AS vpcendpointid,
  r.vpcEndpointAccountId AS vpcendpointaccountid, r.eventCategory AS eventcategory,
  CAST(r.sessionCredentialFromConsole AS BOOLEAN) AS sessioncredentialfromconsole,
  r.tlsDetails.tlsVersion AS tlsdetails_tlsversion, r.tlsDetails.cipherSuite AS tlsdetails_ciphersuite,
  r.tlsDetails.clientProvidedHostHeader AS tlsdetails_clientprovidedhostheader,
  r.tlsDetails.keyExchange AS tlsdetails_keyexchange
"""


def main(src, out, threads):
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    # The delivery layout of a plain (non-organisation) trail, as trailpack-gen writes it.
    glob = f"{src}/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"
    con.execute(
        f"""
        COPY (
          SELECT {SELECT}
          FROM (SELECT unnest(Records) AS r
                FROM read_json('{glob}', columns = {{'Records': '{RECORD}[]'}},
                               format = 'auto', compression = 'gzip', maximum_object_size = 268435456))
          ORDER BY eventtime
        ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    n = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    print(f"duckdb: {n} rows written to {out}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    main(*sys.argv[1:])
