"""The S3 backends (catalog and run-log store), with the ``s3`` extra (obstore)."""

#: The standard AWS variables an S3 catalog or run-log store reads its credentials and region from.
AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION")
