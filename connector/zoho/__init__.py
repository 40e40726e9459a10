"""Zoho CRM v8 client (research/zoho.md)."""

from __future__ import annotations

from connector.zoho.auth import ZohoCredentials as ZohoCredentials
from connector.zoho.auth import ZohoTokenManager as ZohoTokenManager
from connector.zoho.client import ZohoClient as ZohoClient
