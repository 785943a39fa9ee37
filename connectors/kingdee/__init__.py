"""Kingdee K3Cloud (金蝶云星空) WebAPI: signatures, sessions, ExecuteBillQuery, Save."""

from connectors.kingdee.connector import KingdeeConnector

__all__ = ["KingdeeConnector"]
