"""The query API: the roll-ups over HTTP/JSON with OpenAPI, served by ``sluice query``."""
