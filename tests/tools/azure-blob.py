#!/usr/bin/python3
"""tests/tools/azure-blob.py — read an Azure Blob container with Microsoft's Python client (Debian's python3-azure-storage).

  azure-blob.py create CONTAINER            make the container (no error if it is there)
  azure-blob.py list CONTAINER PREFIX       "<name> <length>" of every committed blob under PREFIX
  azure-blob.py get CONTAINER PREFIX DIR    every committed blob under PREFIX into DIR, PREFIX taken off the names
  azure-blob.py uncommitted CONTAINER NAME  the uncommitted blocks of one blob, as "<id> <size>"

The connection string comes from AZURE_STORAGE_CONNECTION_STRING.
"""
import os
import sys

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

service = BlobServiceClient.from_connection_string(os.environ['AZURE_STORAGE_CONNECTION_STRING'])
command, container = sys.argv[1], service.get_container_client(sys.argv[2])
if command == 'create':
    try:
        container.create_container()
    except ResourceExistsError:
        pass
elif command == 'list':
    for blob in container.list_blobs(name_starts_with=sys.argv[3]):
        print(blob.name, blob.size)
elif command == 'get':
    prefix, out = sys.argv[3], sys.argv[4]
    for blob in container.list_blobs(name_starts_with=prefix):
        path = os.path.join(out, blob.name[len(prefix):].lstrip('/'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            container.download_blob(blob.name).readinto(f)
elif command == 'uncommitted':
    committed, uncommitted = container.get_blob_client(sys.argv[3]).get_block_list('all')
    for block in uncommitted:
        print(block.id, block.size)
else:
    sys.exit('unknown command ' + command)
