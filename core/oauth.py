"""OAuth 2 scopes: a partner application reaches only the scopes granted to it in admin."""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import SettingsScopes


class PartnerScopes(SettingsScopes):
    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        known = super().get_available_scopes(application, request, *args, **kwargs)
        if application is None:
            return known
        granted = set(getattr(application, "allowed_scopes", "").split())
        return [scope for scope in known if scope in granted]

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list[str]:
        return self.get_available_scopes(application, request)
