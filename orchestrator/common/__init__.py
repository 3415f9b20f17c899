"""Small tools with no knowledge of pipelines: backoff, database fault classification, the event
loop, logging and token redaction, Retry-After, the HTTP transport, free ports."""
