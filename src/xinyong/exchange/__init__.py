"""Sharing and exchange (共享交换): department queries, the change feed, webhooks and signed
packages between platforms."""
