"""Notifiers: turn outbox rows into messages people read. Nothing here knows about Scrapy."""
