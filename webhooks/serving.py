"""gunicorn's logger with secrets masked (`dunlin serve` passes it as `--logger-class`).

gunicorn formats its access line from "atoms" (request line, path, query, headers, environ)
and logs it on its own handlers, which propagate nowhere: each atom the format uses is
redacted here before formatting, and every handler gets the redacting filter as well, which
also covers gunicorn.error ("Error handling request /s/<token>").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from gunicorn.glogging import Logger

if TYPE_CHECKING:
    from gunicorn.glogging import _AtomsDict

from dunlin.log import MASK, guard_handlers, redact_path, redacting_filter

# Atoms whose whole value is a credential.
SECRET_ATOMS = frozenset(
    {
        "{authorization}i",
        "{proxy-authorization}i",
        "{cookie}i",
        "{set-cookie}o",
        "{http_authorization}e",
        "{http_cookie}e",
    }
)
# Atoms holding a URL or path: masked like the path of a request.
PATH_ATOMS = frozenset(
    {"r", "u", "q", "f", "{referer}i", "{raw_uri}e", "{path_info}e", "{query_string}e"}
)
_ATOM = re.compile(r"%\(([^)]+)\)s")


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self._used = {name.lower() for name in _ATOM.findall(cfg.access_log_format)}
        guard_handlers()

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> _AtomsDict:
        """Credentials blanked and paths masked like a request's path (any long opaque
        segment too); the filter on the handler then redacts the whole formatted line."""
        atoms = super().atoms(resp, req, environ, request_time)
        # The same dict, indexed by the names the access-log format uses (not all are stub keys).
        fields = cast("dict[str, Any]", atoms)
        used = getattr(self, "_used", None)
        for key, value in fields.items():
            lower = key.lower()
            if not isinstance(value, str) or (used is not None and lower not in used):
                continue
            if lower in SECRET_ATOMS:
                fields[key] = MASK
            elif lower in PATH_ATOMS or key == "U":
                fields[key] = redact_path(value, tuple(redacting_filter.known))
        return atoms
