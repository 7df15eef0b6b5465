"""Keep the grader's start-up fast: import this before nbformat/nbgrader.

jsonschema (pulled in by nbformat) imports the optional ``rfc3987_syntax`` package for IRI
format checks; that package builds a Lark grammar at import time, ~4.5 s per process on the
kit's 2-core machine. Notebook validation never checks IRI formats, so the grader marks the
package as unavailable (jsonschema then skips that one format checker).
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
