"""Build the connector for a source from its mapping kind, settings and credentials."""

from __future__ import annotations

from typing import Any

from connectors.base import Connector, NotSupported, SourceConfigError
from mappings.api import KingdeeMapping, OdooMapping, RestMapping
from mappings.schema import Mapping


def open_connector(
    mapping: Mapping, settings: dict[str, Any], credentials: dict[str, Any]
) -> Connector:
    if "url" not in settings:
        raise SourceConfigError("the source has no url setting / 数据源缺少 url 设置")
    if isinstance(mapping, OdooMapping):  # kind "odoo"
        from connectors.odoo import OdooConnector

        return OdooConnector(mapping, settings, credentials)
    if isinstance(mapping, KingdeeMapping):  # kind "kingdee"
        from connectors.kingdee import KingdeeConnector

        return KingdeeConnector(mapping, settings, credentials)
    if isinstance(mapping, RestMapping):  # kind "rest"
        from connectors.rest import RestConnector

        return RestConnector(mapping, settings, credentials)
    raise NotSupported(f"{mapping.kind!r} sources are imported, not synced (dunlin import)")
