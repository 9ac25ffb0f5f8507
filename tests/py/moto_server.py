#!/usr/bin/env python3
"""The moto server (S3 and Glue over HTTP), with one fidelity fix: AWS Glue's
UpdateTable takes an optional VersionId and fails with
ConcurrentModificationException when the table has changed since that version
(https://docs.aws.amazon.com/glue/latest/webapi/API_UpdateTable.html). moto 5.2
accepts the parameter and ignores it, so concurrent-update tests would pass against
it whatever the client does. Everything else is moto as installed.

usage: moto_server.py [moto_server arguments, e.g. -H 127.0.0.1 -p PORT]
"""
import sys
import threading

from moto.glue.exceptions import GlueClientError
from moto.glue.responses import GlueResponse
from moto.server import main


class ConcurrentModificationException(GlueClientError):
    def __init__(self, message):
        super().__init__("ConcurrentModificationException", message)


_LOCK = threading.Lock()
_UPDATE_TABLE = GlueResponse.update_table


def update_table(self):
    version = self.parameters.get("VersionId")
    with _LOCK:  # the check and the update are one step, as in Glue
        if version is not None:
            table = self.glue_backend.get_table(
                self.parameters.get("DatabaseName"), self.parameters["TableInput"]["Name"]
            )
            current = str(table.as_dict()["VersionId"])
            if current != str(version):
                raise ConcurrentModificationException(
                    f"Table version {version} is not the current version {current}"
                )
        return _UPDATE_TABLE(self)


GlueResponse.update_table = update_table

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
