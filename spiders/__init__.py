"""The Scrapy side of banwatch: turns accounts into requests and responses into observations."""
