"""How the dispatcher's shared documents change: by pure functions, written whole.

Team-day documents (``teams``) and stock documents (``stock``) change by pure functions
that take the stored document (or None) and return ``(new document, or None when
nothing changes; result)``; the store writes the new document whole, guarded by its
``version``, and retries the function on the fresh document when another write won.
"""

from __future__ import annotations

from typing import Any

Document = dict[str, Any]
Change = tuple[Document | None, Any]
