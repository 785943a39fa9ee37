"""Odoo 16–19 over XML-RPC, JSON-RPC or JSON-2, built on odoo-client-lib."""

from connectors.odoo.connector import OdooConnector

__all__ = ["OdooConnector"]
