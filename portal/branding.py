"""The partner's brand: name, an optional logo and an accent colour, on every page and email.

The colour is the partner's choice, so the text on it is chosen here: white or near-black,
whichever reads better (WCAG contrast), and links fall back to Keydrop's blue when the partner's
colour is too light to read on white.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

DEFAULT_COLOUR = "#1f5fbf"
INK_LIGHT, INK_DARK = "#ffffff", "#111827"
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def is_colour(value: str) -> bool:
    return bool(COLOUR.fullmatch(value or ""))


def luminance(colour: str) -> float:
    """Relative luminance of #rrggbb, as WCAG 2 defines it."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def logo_url_problem(url: str) -> str:
    """Why a logo address cannot be used, or "": https elsewhere, or a path on this site."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.netloc:
        return ""
    if not parts.scheme and not parts.netloc and url.startswith("/"):
        return ""
    return "use an https:// address or a path on this site such as /static/logo.svg"


@dataclass(frozen=True)
class Brand:
    name: str
    colour: str  # backgrounds: buttons, the header bar, step numbers
    ink: str  # text on the colour
    link: str  # links on white
    logo_url: str

    @property
    def logo_origin(self) -> str:
        """The origin the Content-Security-Policy must allow images from, or "" for this site."""
        parts = urlsplit(self.logo_url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme == "https" and parts.netloc else ""


@lru_cache(maxsize=8)
def _brand(name: str, colour: str, logo_url: str) -> Brand:
    colour = colour.lower() if is_colour(colour) else DEFAULT_COLOUR  # keydrop.E040 reports a bad one
    ink = INK_LIGHT if contrast(colour, INK_LIGHT) >= contrast(colour, INK_DARK) else INK_DARK
    link = colour if contrast(colour, "#ffffff") >= 4.5 else DEFAULT_COLOUR
    return Brand(name=name, colour=colour, ink=ink, link=link, logo_url="" if logo_url_problem(logo_url) else logo_url)


def brand() -> Brand:
    return _brand(settings.PORTAL_PARTNER_NAME, settings.PORTAL_PARTNER_COLOUR, settings.PORTAL_PARTNER_LOGO_URL)


@require_safe
def stylesheet(request):
    """The brand's colours as CSS variables, for pages whose policy allows no inline style."""
    current = brand()
    css = f":root {{ --brand: {current.colour}; --brand-ink: {current.ink}; --brand-link: {current.link}; }}\n"
    response = HttpResponse(css, content_type="text/css; charset=utf-8")
    patch_cache_control(response, public=True, max_age=300)
    return response
