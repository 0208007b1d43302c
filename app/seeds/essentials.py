"""Production essentials: the rows every environment needs, production included.

Natural keys (``users.username``, ``settings.key``) make the seed idempotent: it
inserts what is missing and never touches a row that is already there, so it is
safe against a database where an operator created the admin by hand.
"""

from __future__ import annotations

from typing import Any

ADMIN_USER: dict[str, Any] = {
    "username": "admin",
    "email": "admin@example.com",
    "first_name": "Site",
    "last_name": "Administrator",
    "is_admin": True,
}

DEFAULT_SETTINGS: list[dict[str, Any]] = [
    {"key": "site.name", "value": "Seedchain Demo", "description": "Shown in page titles"},
    {"key": "site.locale", "value": "en_US", "description": "Default locale for new users"},
    {"key": "site.timezone", "value": "UTC", "description": "Default time zone"},
    {"key": "pagination.per_page", "value": "25", "description": "Rows per page in lists"},
    {"key": "features.signup_open", "value": "false", "description": "Self-service sign-up"},
    {"key": "maintenance.enabled", "value": "false", "description": "Maintenance banner"},
]
