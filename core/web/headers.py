"""Security headers on every response, with a policy per route prefix.

Every response gets ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``. HTML pages also
get a Content-Security-Policy (scripts only from this origin, no plugins, images from this origin, ``data:``
and the ``image_sources`` allow-list) and may not be framed (``frame-ancestors 'none'`` and
``X-Frame-Options: DENY``). A package whose pages must be embedded elsewhere — the web-chat widget's — states
its own exception with :func:`allow_framing` for its path prefix; the longest matching prefix wins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from aiohttp import web

from core.web.keys import HEADER_POLICIES, SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class HeaderPolicy:
    frame_ancestors: str = "'none'"
    """CSP ``frame-ancestors`` sources; ``'none'`` also sends ``X-Frame-Options: DENY``."""
    connect_sources: str = "'self'"

    def content_security_policy(self, image_sources: str) -> str:
        images = " ".join(filter(None, ("'self' data:", image_sources)))
        return "; ".join(
            (
                "default-src 'self'",
                "script-src 'self'",
                "style-src 'self' 'unsafe-inline'",  # scripts set element styles (chart sizes); no remote styles
                f"img-src {images}",
                f"connect-src {self.connect_sources}",
                "object-src 'none'",
                "base-uri 'self'",
                "form-action 'self'",
                f"frame-ancestors {self.frame_ancestors}",
            )
        )


DEFAULT_POLICY = HeaderPolicy()


def allow_framing(app: web.Application, prefix: str, ancestors: str) -> None:
    """Let pages under ``prefix`` be framed by ``ancestors`` (CSP source list, e.g. ``https://shop.example``)."""
    app[HEADER_POLICIES].append((prefix, replace(DEFAULT_POLICY, frame_ancestors=ancestors)))


def policy_for(request: web.Request) -> HeaderPolicy:
    best: tuple[int, HeaderPolicy] = (-1, DEFAULT_POLICY)
    for prefix, policy in request.config_dict.get(HEADER_POLICIES, ()):
        if request.path.startswith(prefix) and len(prefix) > best[0]:
            best = (len(prefix), policy)
    return best[1]


def _apply(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type != "text/html":
        return
    policy = policy_for(request)
    image_sources = " ".join(request.config_dict[SETTINGS].image_sources)
    headers.setdefault("Content-Security-Policy", policy.content_security_policy(image_sources))
    if policy.frame_ancestors == "'none'":
        headers.setdefault("X-Frame-Options", "DENY")


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _apply(request, exc)
        raise
    if not response.prepared:
        _apply(request, response)
    return response
