"""Open311 GeoReport v2, the public API of 明心桥 reports for outside civic systems: ``service`` reads
and files requests, ``clients`` holds the API keys; what is hidden of a published text is
``identity.redaction.redact``, the one finder of personal data in free text."""
