"""Open311 GeoReport v2, the public API of 明心桥 reports for outside civic systems: ``service`` reads
and files requests, ``clients`` holds the API keys, ``redaction`` what is hidden of a published text."""
