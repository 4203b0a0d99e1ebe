"""Template tags for /account/'s identity section: idp renders the page, federation supplies its part."""

from __future__ import annotations

from django import template

from federation import selectors
from federation.providers import Provider
from federation.selectors import LinkedIdentity

register = template.Library()


@register.simple_tag
def linked_identities(user) -> list[LinkedIdentity]:
    return selectors.identity_list_for_user(user=user)


@register.simple_tag
def connectable_providers(user) -> list[Provider]:
    return selectors.connectable_providers(user=user)
