"""The one seam that talks to S3. Everything else calls it; nothing else imports boto3.

One concern per module; import the module you need (`from sharing_project.s3.objects import
put_object`). This file imports nothing, so that models and migrations, which only need
`uris`, never load boto3:

- `uris`: S3 URIs and their validators, storage classes, ETag rules (no boto3).
- `client`: the one botocore configuration, the shared client, clients for other credentials.
- `objects`: put, head, get, list, delete objects; buckets; what a failed call means.
- `archive`: whether an object can be read now, and restoring archived ones.
- `presign`: presigned GET links and their true expiry.
- `copy`: server-side copies, in one request or in parts.
- `stream`: copies through this process to where only other credentials may write (ICAv2).
"""
